//! What every request handler and socket shares, built once by [`crate::app::Application`].

use std::sync::Arc;

use finpulse_bus::{EventLog, FanOut};
use finpulse_graph::FinpulseSchema;
use finpulse_store::Repositories;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::{LimitsConfig, WebSocketConfig};
use crate::http::rate::RateLimits;
use crate::metrics::GatewayMetrics;
use crate::operation::Preparer;
use crate::ws::SocketContext;

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The schema.
    pub schema: FinpulseSchema,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// Metrics registry.
    pub metrics: GatewayMetrics,
    /// Storage.
    pub store: Repositories,
    /// The event log.
    pub log: Arc<dyn EventLog>,
    /// The fan-out.
    pub fanout: Arc<dyn FanOut>,
    /// Socket settings.
    pub websocket: WebSocketConfig,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// Checks every document against the query limits before it runs.
    pub preparer: Preparer,
    /// Request rates per address and per user.
    pub rates: RateLimits,
    /// Client limits as configured.
    pub limits: LimitsConfig,
    /// What every socket session shares, built once: a socket holds a pointer to it rather
    /// than copies of its dozen handles (half a kilobyte a socket, and as much again per
    /// operation task).
    pub socket: Arc<SocketContext>,
    /// What `POST /dev/token` hands out, when it is served at all (the embedded default on a
    /// loopback address only).
    pub dev_tokens: Option<crate::config::DevTokens>,
    /// `Strict-Transport-Security`, sent with every answer while TLS is on.
    pub hsts: Option<axum::http::HeaderValue>,
    /// Sign-in through the identity provider, when `[auth.oidc.login]` is set.
    pub sign_in: Option<Arc<crate::auth::sign_in::SignIn>>,
    /// Proxies whose forwarding headers name the client.
    pub proxies: crate::http::client_address::TrustedProxies,
}
