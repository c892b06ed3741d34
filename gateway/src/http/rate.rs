//! Request rates: per peer address with `tower-governor`, before a token is even looked at, and
//! per signed-in user across addresses. A refused request gets `429 Too Many Requests` with
//! `Retry-After` and a GraphQL error with code `RATE_LIMITED`, so GraphQL clients can read it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::PeerIpKeyExtractor;
use tracing::debug;

use finpulse_graph::ai::ModelBudget;

use super::identity::Identity;
use crate::config::LimitsConfig;
use crate::metrics::GatewayMetrics;
use crate::state::AppState;

/// The limiter of requests per address, as `tower-governor` takes it.
pub type IpGovernor = GovernorConfig<PeerIpKeyExtractor, governor::middleware::NoOpMiddleware>;

/// A quota of `per_second` sustained with `burst` at once; zero is refused by the config check,
/// and one stands in for it here.
pub fn quota(per_second: u32, burst: u32) -> Quota {
    let one = NonZeroU32::MIN;
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(one))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(one))
}

/// The per-address limiter of `config`.
pub fn ip_governor(config: &LimitsConfig) -> Arc<IpGovernor> {
    let period = Duration::from_secs_f64(1.0 / f64::from(config.requests_per_second_per_ip.max(1)));
    let built = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(config.request_burst_per_ip.max(1))
        .finish();
    Arc::new(built.expect("a positive period and burst make a valid governor"))
}

/// The `tower-governor` layer over `governor`, answering refusals as [`rate_limited`] does.
pub fn ip_layer(
    governor: Arc<IpGovernor>,
    metrics: GatewayMetrics,
) -> tower_governor::GovernorLayer<PeerIpKeyExtractor, governor::middleware::NoOpMiddleware, Body> {
    tower_governor::GovernorLayer::new(governor).error_handler(move |error| match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            metrics.rate_limited.with_label_values(&["ip"]).inc();
            rate_limited(Duration::from_secs(wait_time), "from this address")
        }
        GovernorError::UnableToExtractKey => {
            (StatusCode::INTERNAL_SERVER_ERROR, "no peer address").into_response()
        }
        GovernorError::Other { code, msg, .. } => (code, msg.unwrap_or_default()).into_response(),
    })
}

/// `429` with `Retry-After` (whole seconds, at least 1) and a `RATE_LIMITED` GraphQL error.
pub fn rate_limited(wait: Duration, whose: &str) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let body = json!({"errors": [{
        "message": format!("too many requests {whose}; retry in {seconds} s"),
        "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": seconds},
    }]});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Keyed limiters shared by every request of a gateway.
#[derive(Clone)]
pub struct RateLimits {
    /// Requests per signed-in user.
    pub user: Arc<DefaultKeyedRateLimiter<String>>,
    /// Requests per address (held to forget idle addresses).
    pub ip: Arc<IpGovernor>,
    /// Model work per caller (held to forget idle callers).
    pub model: ModelBudget,
}

impl RateLimits {
    /// The limiters of `config`.
    pub fn new(config: &LimitsConfig, model: ModelBudget) -> Self {
        Self {
            user: Arc::new(DefaultKeyedRateLimiter::keyed(quota(
                config.requests_per_second_per_user,
                config.request_burst_per_user,
            ))),
            ip: ip_governor(config),
            model,
        }
    }

    /// Forgets keys whose buckets are full again, so the maps are the size of who is active.
    pub fn forget_idle(&self) {
        self.user.retain_recent();
        self.user.shrink_to_fit();
        self.ip.limiter().retain_recent();
        self.ip.limiter().shrink_to_fit();
        self.model.forget_idle();
    }
}

/// Refuses a signed-in user's request past their rate.
pub async fn per_user(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(user) = request
        .extensions()
        .get::<Identity>()
        .and_then(Identity::user)
        && let Err(not_until) = app.rates.user.check_key(&user.to_owned())
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        app.metrics.rate_limited.with_label_values(&["user"]).inc();
        debug!(user, "request rate limited");
        return rate_limited(wait, "for this user");
    }
    next.run(request).await
}
