//! GraphQL over WebSocket at `/graphql`: the upgrade, then [`session::serve`].

pub mod delivery;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod shared;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use protocol::Protocol;
pub use session::SocketContext;

/// Picks the sub-protocol the client offered; transport-ws when it offered none.
fn negotiate(headers: &HeaderMap) -> Result<Protocol, ()> {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    if offered.is_empty() {
        return Ok(Protocol::TransportWs);
    }
    [Protocol::TransportWs, Protocol::LegacyWs]
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p.name()))
        .ok_or(())
}

/// Upgrades to a GraphQL socket. A bad `Authorization` header is refused before the upgrade.
pub fn upgrade(upgrade: WebSocketUpgrade, headers: &HeaderMap, context: SocketContext) -> Response {
    let Ok(protocol) = negotiate(headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported websocket subprotocol: use graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let principal = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(value)) => match context.auth.verify_header(value) {
            Ok(principal) => Some(principal),
            Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
        },
        Some(Err(_)) => {
            return (StatusCode::UNAUTHORIZED, "authorization is not text").into_response();
        }
    };
    upgrade
        .protocols([protocol.name()])
        // Small buffers: most sockets are idle most of the time, and memory per idle
        // subscription is what bounds how many one replica can hold.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(256 * 1024)
        .on_upgrade(move |socket| session::serve(socket, protocol, principal, context))
}
