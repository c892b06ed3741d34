//! The gateway's Prometheus registry and the metrics of sockets and HTTP requests.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Metrics owned by the gateway; the streams crate registers its own in the same registry.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// `finpulse_ws_connections`: open WebSocket connections.
    pub connections: IntGauge,
    /// `finpulse_ws_subscriptions`: active subscriptions over all sockets.
    pub subscriptions: IntGauge,
    /// `finpulse_ws_messages_sent_total{type}`: protocol messages written to sockets.
    pub messages_sent: IntCounterVec,
    /// `finpulse_ws_coalesced_messages_total`: ticks/candles replaced by a newer one before a
    /// slow client could take them.
    pub coalesced: IntCounter,
    /// `finpulse_ws_slow_consumer_disconnects_total`: sockets closed because their queue of
    /// undroppable messages filled up.
    pub slow_disconnects: IntCounter,
    /// `finpulse_ws_closes_total{code}`: sockets closed by the server, by close code.
    pub closes: IntCounterVec,
    /// `finpulse_ws_shared_subscription_streams`: distinct public subscriptions executing, each
    /// shared by every socket that runs it.
    pub shared_streams: IntGauge,
    /// `finpulse_http_request_duration_seconds{path,method,status}`.
    pub http_duration: HistogramVec,
    /// `finpulse_cache_requests_total{entity,result}`: Redis cache lookups (hit, miss, error).
    pub cache_requests: IntCounterVec,
    /// `finpulse_http_refused_connections_total{reason}`: connections closed on accept
    /// (`per_ip`, `total`).
    pub refused_connections: IntCounterVec,
    /// `finpulse_tls_reloads_total{outcome}`: certificate reloads (`ok`, `failed`), and
    /// `finpulse_tls_handshake_failures_total`: connections whose TLS handshake failed.
    pub tls_reloads: IntCounterVec,
    /// See [`GatewayMetrics::tls_reloads`].
    pub tls_handshake_failures: prometheus::IntCounter,
    /// `finpulse_tls_certificate_expiry_timestamp_seconds`: when the served certificate
    /// expires (Unix seconds; absent without TLS).
    pub tls_certificate_expiry: prometheus::IntGauge,
    /// `finpulse_rate_limited_total{limit}`: requests, sockets and messages refused by a limit
    /// (`ip`, `user`, `sockets_per_ip`, `sockets_per_user`, `socket_messages`, `model`).
    pub rate_limited: IntCounterVec,
    /// `finpulse_ws_keepalive_timeouts_total`: sockets closed because the client answered no
    /// ping for two keepalive intervals.
    pub keepalive_timeouts: IntCounter,
}

impl GatewayMetrics {
    /// Creates a registry with every gateway metric in it.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let latency_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let metrics = Self {
            connections: IntGauge::new("finpulse_ws_connections", "Open WebSocket connections")?,
            cache_requests: IntCounterVec::new(
                Opts::new(
                    "finpulse_cache_requests_total",
                    "Redis cache lookups by entity and result (hit, miss, error)",
                ),
                &["entity", "result"],
            )?,
            subscriptions: IntGauge::new("finpulse_ws_subscriptions", "Active subscriptions")?,
            messages_sent: IntCounterVec::new(
                Opts::new(
                    "finpulse_ws_messages_sent_total",
                    "Protocol messages written to sockets",
                ),
                &["type"],
            )?,
            coalesced: IntCounter::new(
                "finpulse_ws_coalesced_messages_total",
                "Ticks and candles superseded by a newer one before a slow client took them",
            )?,
            slow_disconnects: IntCounter::new(
                "finpulse_ws_slow_consumer_disconnects_total",
                "Sockets closed because undroppable messages piled up",
            )?,
            closes: IntCounterVec::new(
                Opts::new(
                    "finpulse_ws_closes_total",
                    "Sockets closed by the server, by close code",
                ),
                &["code"],
            )?,
            shared_streams: IntGauge::new(
                "finpulse_ws_shared_subscription_streams",
                "Distinct public subscriptions executing, each shared by all sockets running it",
            )?,
            http_duration: HistogramVec::new(
                HistogramOpts::new(
                    "finpulse_http_request_duration_seconds",
                    "HTTP request latency",
                )
                .buckets(latency_buckets),
                &["path", "method", "status"],
            )?,
            refused_connections: IntCounterVec::new(
                Opts::new(
                    "finpulse_http_refused_connections_total",
                    "Connections closed on accept because a connection limit was reached",
                ),
                &["reason"],
            )?,
            tls_reloads: IntCounterVec::new(
                Opts::new(
                    "finpulse_tls_reloads_total",
                    "TLS certificate reloads after its files changed, by outcome",
                ),
                &["outcome"],
            )?,
            tls_handshake_failures: prometheus::IntCounter::new(
                "finpulse_tls_handshake_failures_total",
                "Connections closed because their TLS handshake failed or timed out",
            )?,
            tls_certificate_expiry: prometheus::IntGauge::new(
                "finpulse_tls_certificate_expiry_timestamp_seconds",
                "When the served TLS certificate stops being valid, in Unix seconds",
            )?,
            rate_limited: IntCounterVec::new(
                Opts::new(
                    "finpulse_rate_limited_total",
                    "Requests, sockets and socket messages refused by a rate or count limit",
                ),
                &["limit"],
            )?,
            keepalive_timeouts: IntCounter::new(
                "finpulse_ws_keepalive_timeouts_total",
                "Sockets closed because the client answered no ping for two keepalive intervals",
            )?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.connections.clone()))?;
        r.register(Box::new(metrics.subscriptions.clone()))?;
        r.register(Box::new(metrics.messages_sent.clone()))?;
        r.register(Box::new(metrics.coalesced.clone()))?;
        r.register(Box::new(metrics.slow_disconnects.clone()))?;
        r.register(Box::new(metrics.closes.clone()))?;
        r.register(Box::new(metrics.shared_streams.clone()))?;
        r.register(Box::new(metrics.http_duration.clone()))?;
        r.register(Box::new(metrics.cache_requests.clone()))?;
        r.register(Box::new(metrics.refused_connections.clone()))?;
        r.register(Box::new(metrics.tls_reloads.clone()))?;
        r.register(Box::new(metrics.tls_handshake_failures.clone()))?;
        r.register(Box::new(metrics.rate_limited.clone()))?;
        r.register(Box::new(metrics.keepalive_timeouts.clone()))?;
        Ok(metrics)
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
