//! HTTP routes: GraphQL, GraphiQL, the dashboard, development tokens (embedded default on
//! loopback only), sign-in through the identity provider and the operational endpoints.

pub mod client_address;
pub mod cors;
pub mod dev_token;
pub mod graphql;
pub mod headers;
pub mod identity;
pub mod ops;
pub mod rate;
pub mod sign_in;

use axum::Router;
use axum::routing::get;

use crate::config::Role;
use crate::state::AppState;

/// Every route of a process in `role`: a worker serves only the operations endpoints. The
/// client's address is found first (the peer, or what a trusted proxy forwards). Client
/// routes are rate limited per address (before any token is verified), then the identity is
/// found once, then rate limited per user. `cors`, when given, answers other origins' preflights
/// before all of that.
pub fn router(state: AppState, role: Role, cors: Option<tower_http::cors::CorsLayer>) -> Router {
    let operations = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics));
    let routes = if role.serves_clients() {
        let clients = Router::new()
            .route("/graphql", get(graphql::graphql).post(graphql::graphql))
            .merge(crate::graphiql::routes())
            .merge(crate::dashboard::routes())
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                rate::per_user,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                identity::identify,
            ))
            .layer(rate::ip_layer(
                state.rates.ip.clone(),
                state.metrics.clone(),
            ));
        let clients = match cors {
            Some(cors) => clients.layer(cors),
            None => clients,
        };
        // Merged after the CORS layer, so it never answers another origin's preflight.
        let clients = match state.dev_tokens {
            Some(_) => clients.merge(
                Router::new()
                    .route("/dev/token", get(dev_token::offer).post(dev_token::mint))
                    .layer(axum::middleware::from_fn(dev_token::loopback_only))
                    .layer(rate::ip_layer(
                        state.rates.ip.clone(),
                        state.metrics.clone(),
                    )),
            ),
            None => clients,
        };
        // The same for sign-in through the identity provider: same-origin only.
        let clients = match &state.sign_in {
            Some(flow) => clients.merge(
                Router::new()
                    .route("/auth/login", get(sign_in::login))
                    .route("/auth/callback", get(sign_in::callback))
                    .route("/auth/token", axum::routing::post(sign_in::token))
                    .route("/auth/logout", axum::routing::post(sign_in::logout))
                    .route("/auth/session", get(sign_in::session))
                    .layer(axum::middleware::from_fn_with_state(
                        flow.clone(),
                        sign_in::own_origin,
                    ))
                    .layer(rate::ip_layer(
                        state.rates.ip.clone(),
                        state.metrics.clone(),
                    ))
                    .with_state(flow.clone()),
            ),
            None => clients.route("/auth/session", get(sign_in::no_provider)),
        };
        operations.merge(clients)
    } else {
        operations
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.hsts.clone(),
            headers::harden,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.proxies.clone(),
            client_address::client_address,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track,
        ))
        .with_state(state)
}
