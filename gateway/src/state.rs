//! What every request handler and socket shares, built once by [`crate::app::Application`].

use std::sync::Arc;

use finpulse_bus::{EventLog, FanOut};
use finpulse_graph::FinpulseSchema;
use finpulse_store::Repositories;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::{LimitsConfig, WebSocketConfig};
use crate::http::rate::{self, RateLimits};
use crate::metrics::GatewayMetrics;
use crate::operation::Preparer;
use crate::ws::shared::SharedSubscriptions;
use crate::ws::{SocketContext, SocketLimits};

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
    /// Public subscriptions executed once for every socket that runs them.
    pub shared: SharedSubscriptions,
    /// Checks every document against the query limits before it runs.
    pub preparer: Preparer,
    /// Request rates per address and per user.
    pub rates: RateLimits,
    /// Client limits as configured.
    pub limits: LimitsConfig,
    /// Open sockets per address and per user.
    pub sockets: SocketLimits,
    /// `POST /dev/token` is served (the embedded default only).
    pub dev_tokens: bool,
}

impl AppState {
    /// What a socket session needs.
    pub fn socket_context(&self) -> SocketContext {
        SocketContext {
            schema: self.schema.clone(),
            auth: self.auth.clone(),
            metrics: self.metrics.clone(),
            config: self.websocket.clone(),
            shutdown: self.shutdown.clone(),
            shared: self.shared.clone(),
            preparer: self.preparer.clone(),
            places: self.sockets.clone(),
            message_quota: rate::quota(
                self.limits.socket_messages_per_second,
                self.limits.socket_message_burst,
            ),
        }
    }
}
