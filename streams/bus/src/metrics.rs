//! Prometheus metrics of the event log, processors and fan-out.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Buckets of batch and stage durations, in seconds.
const BATCH_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Counters and gauges of the streams layer, registered in the app's registry.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    /// `finpulse_log_appended_events_total{topic}`.
    pub appended: IntCounterVec,
    /// `finpulse_processor_events_total{topic}`: records a processor handled.
    pub processed: IntCounterVec,
    /// `finpulse_processor_parked_events_total{topic,reason}`: records parked as dead letters.
    pub parked: IntCounterVec,
    /// `finpulse_processor_lag_events{group}`: appended but not yet committed.
    pub lag: IntGaugeVec,
    /// `finpulse_processor_batch_duration_seconds`: one poll's processing, store write included.
    pub batch_seconds: Histogram,
    /// `finpulse_processor_stage_duration_seconds{stage}`: the parts of a batch a handler times
    /// (for the market processor `catch_up`, `store`, `publish`, `save_state`), to tell which
    /// one a slow batch spent its time in.
    pub stage_seconds: HistogramVec,
    /// `finpulse_fanout_published_messages_total{kind}`: messages handed to the fan-out.
    pub published: IntCounterVec,
    /// `finpulse_fanout_lagged_messages_total{kind}`: messages a local subscriber missed because
    /// it fell a whole channel buffer behind (kind is the channel's first segment: `ticks`,
    /// `candles`, `insights`, …). Tick and candle streams coalesce to the newest; insight
    /// streams tell the client with a `LAGGED` error.
    pub lagged: IntCounterVec,
    /// `finpulse_fanout_publish_errors_total`: publishes the networked fan-out (Redis) refused
    /// or could not deliver while unreachable.
    pub publish_errors: IntCounter,
    /// `finpulse_fanout_reconnects_total`: times the Redis subscription connection was
    /// re-established after being lost (each time, local subscribers are told they may have
    /// missed messages).
    pub reconnects: IntCounter,
    /// `finpulse_fanout_channels`: channels this replica holds (each has a local subscriber).
    pub channels: IntGauge,
    /// `finpulse_fanout_refused_subscriptions_total`: subscriptions refused because the replica
    /// held `fanout.max_channels` channels.
    pub refused_channels: IntCounter,
}

impl StreamMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            appended: IntCounterVec::new(
                Opts::new(
                    "finpulse_log_appended_events_total",
                    "Events appended to the event log",
                ),
                &["topic"],
            )?,
            processed: IntCounterVec::new(
                Opts::new(
                    "finpulse_processor_events_total",
                    "Events handled by processors",
                ),
                &["topic"],
            )?,
            parked: IntCounterVec::new(
                Opts::new(
                    "finpulse_processor_parked_events_total",
                    "Events that could not be processed and were parked (dead letters)",
                ),
                &["topic", "reason"],
            )?,
            lag: IntGaugeVec::new(
                Opts::new(
                    "finpulse_processor_lag_events",
                    "Events appended to the log but not yet committed by the consumer group",
                ),
                &["group"],
            )?,
            batch_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "finpulse_processor_batch_duration_seconds",
                    "Time to process one polled batch, store write included",
                )
                .buckets(BATCH_BUCKETS.to_vec()),
            )?,
            stage_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "finpulse_processor_stage_duration_seconds",
                    "Time a processor spent in one part of a batch",
                )
                .buckets(BATCH_BUCKETS.to_vec()),
                &["stage"],
            )?,
            published: IntCounterVec::new(
                Opts::new(
                    "finpulse_fanout_published_messages_total",
                    "Messages published to the fan-out, by kind",
                ),
                &["kind"],
            )?,
            lagged: IntCounterVec::new(
                Opts::new(
                    "finpulse_fanout_lagged_messages_total",
                    "Messages local subscribers missed because they fell behind, by channel kind",
                ),
                &["kind"],
            )?,
            publish_errors: IntCounter::new(
                "finpulse_fanout_publish_errors_total",
                "Publishes to the networked fan-out that failed",
            )?,
            reconnects: IntCounter::new(
                "finpulse_fanout_reconnects_total",
                "Times the fan-out subscription connection was re-established after a loss",
            )?,
            channels: IntGauge::new(
                "finpulse_fanout_channels",
                "Fan-out channels this replica holds for its subscribers",
            )?,
            refused_channels: IntCounter::new(
                "finpulse_fanout_refused_subscriptions_total",
                "Subscriptions refused because the replica held its most channels",
            )?,
        };
        registry.register(Box::new(metrics.appended.clone()))?;
        registry.register(Box::new(metrics.processed.clone()))?;
        registry.register(Box::new(metrics.parked.clone()))?;
        registry.register(Box::new(metrics.lag.clone()))?;
        registry.register(Box::new(metrics.batch_seconds.clone()))?;
        registry.register(Box::new(metrics.stage_seconds.clone()))?;
        registry.register(Box::new(metrics.published.clone()))?;
        registry.register(Box::new(metrics.lagged.clone()))?;
        registry.register(Box::new(metrics.publish_errors.clone()))?;
        registry.register(Box::new(metrics.reconnects.clone()))?;
        registry.register(Box::new(metrics.channels.clone()))?;
        registry.register(Box::new(metrics.refused_channels.clone()))?;
        Ok(metrics)
    }

    /// Metrics registered nowhere, for tests and tools.
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("a fresh registry has no name clashes")
    }
}
