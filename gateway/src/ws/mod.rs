//! GraphQL over WebSocket at `/graphql`: the upgrade, then [`session::serve`].

pub mod delivery;
pub mod outbox;
pub mod protocol;
pub mod session;
pub mod shared;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use std::net::IpAddr;
use std::sync::Arc;

use finpulse_graph::Principal;
use protocol::Protocol;
pub use session::SocketContext;

use crate::http::identity::Identity;
use crate::server::{ConnectionLimits, ConnectionPermit};

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

/// Upgrades to a GraphQL socket. A bad `Authorization` header is refused before the upgrade,
/// and so is a socket past the per-address or per-user limit (429).
pub fn upgrade(
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    identity: Identity,
    peer: Option<IpAddr>,
    context: Arc<SocketContext>,
) -> Response {
    let Ok(protocol) = negotiate(headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported websocket subprotocol: use graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    let principal = match identity {
        Identity::Anonymous => None,
        Identity::User(principal) => Some(principal),
        Identity::Refused(reason) => return (StatusCode::UNAUTHORIZED, reason).into_response(),
    };
    let places = match context.places.take(peer, principal.as_ref()) {
        Ok(places) => places,
        Err(limit) => {
            context
                .metrics
                .rate_limited
                .with_label_values(&[limit])
                .inc();
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "10")],
                "too many open sockets for this address or user",
            )
                .into_response();
        }
    };
    upgrade
        .protocols([protocol.name()])
        // Small buffers: most sockets are idle most of the time, and memory per idle
        // subscription is what bounds how many one replica can hold.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            session::serve(socket, protocol, principal, peer, places, context)
        })
}

/// Largest message a client may send; a larger one closes the socket with 1009.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Places of one socket in the per-address and per-user counts, held while it is open.
#[derive(Debug)]
pub struct SocketPlaces {
    _address: Option<ConnectionPermit<IpAddr>>,
    _user: Option<ConnectionPermit<String>>,
}

/// Open sockets per address and per user.
#[derive(Debug, Clone)]
pub struct SocketLimits {
    per_address: Arc<ConnectionLimits<IpAddr>>,
    per_user: Arc<ConnectionLimits<String>>,
}

impl SocketLimits {
    /// At most `per_address` sockets from one address and `per_user` of one user.
    pub fn new(per_address: usize, per_user: usize) -> Self {
        Self {
            per_address: ConnectionLimits::new(per_address, usize::MAX),
            per_user: ConnectionLimits::new(per_user, usize::MAX),
        }
    }

    /// Places for a socket, or the name of the limit it is past. A user known only after
    /// `connection_init` is counted then, with [`SocketLimits::take_user`].
    pub fn take(
        &self,
        address: Option<IpAddr>,
        principal: Option<&Principal>,
    ) -> Result<SocketPlaces, &'static str> {
        let address = match address {
            Some(address) => Some(
                self.per_address
                    .acquire(address)
                    .map_err(|_| "sockets_per_ip")?,
            ),
            None => None,
        };
        let user = match principal.and_then(|p| p.subject.clone()) {
            Some(user) => Some(self.take_user(user)?),
            None => None,
        };
        Ok(SocketPlaces {
            _address: address,
            _user: user,
        })
    }

    /// A place for one more socket of `user`.
    pub fn take_user(&self, user: String) -> Result<ConnectionPermit<String>, &'static str> {
        self.per_user.acquire(user).map_err(|_| "sockets_per_user")
    }
}

impl SocketPlaces {
    /// Whether a user's place is held.
    pub fn has_user(&self) -> bool {
        self._user.is_some()
    }

    /// Holds `permit` as this socket's user place.
    pub fn set_user(&mut self, permit: ConnectionPermit<String>) {
        self._user = Some(permit);
    }
}
