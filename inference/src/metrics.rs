//! Prometheus metrics of the models.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Per-model counters and histograms, registered in the app's registry.
#[derive(Debug, Clone)]
pub struct InferenceMetrics {
    /// `finpulse_inference_requests_total{model}`: embed calls.
    pub requests: IntCounterVec,
    /// `finpulse_inference_texts_total{model}`: texts embedded.
    pub texts: IntCounterVec,
    /// `finpulse_inference_rejected_total{model}`: calls refused because the queue was full.
    pub rejected: IntCounterVec,
    /// `finpulse_inference_batch_size{model}`: texts per model run.
    pub batch_size: HistogramVec,
    /// `finpulse_inference_queue_wait_seconds{model}`: from a call to the start of its batch.
    pub queue_wait: HistogramVec,
    /// `finpulse_inference_run_seconds{model}`: tokenising, running and pooling one batch.
    pub run_seconds: HistogramVec,
    /// `finpulse_inference_abandoned_total{model}`: calls dropped unserved because their caller
    /// stopped waiting (a client that went away).
    pub abandoned: IntCounterVec,
}

impl InferenceMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let seconds = vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
        ];
        let metrics = Self {
            requests: IntCounterVec::new(
                Opts::new("finpulse_inference_requests_total", "Embedding calls"),
                &["model"],
            )?,
            texts: IntCounterVec::new(
                Opts::new("finpulse_inference_texts_total", "Texts embedded"),
                &["model"],
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "finpulse_inference_rejected_total",
                    "Calls refused because the model's queue was full",
                ),
                &["model"],
            )?,
            batch_size: HistogramVec::new(
                HistogramOpts::new("finpulse_inference_batch_size", "Texts per model run")
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
                &["model"],
            )?,
            queue_wait: HistogramVec::new(
                HistogramOpts::new(
                    "finpulse_inference_queue_wait_seconds",
                    "Time from a call to the start of its batch",
                )
                .buckets(seconds.clone()),
                &["model"],
            )?,
            run_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "finpulse_inference_run_seconds",
                    "Time to tokenise, run and pool one batch",
                )
                .buckets(seconds),
                &["model"],
            )?,
            abandoned: IntCounterVec::new(
                Opts::new(
                    "finpulse_inference_abandoned_total",
                    "Calls dropped unserved because their caller stopped waiting",
                ),
                &["model"],
            )?,
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.texts.clone()))?;
        registry.register(Box::new(metrics.rejected.clone()))?;
        registry.register(Box::new(metrics.batch_size.clone()))?;
        registry.register(Box::new(metrics.queue_wait.clone()))?;
        registry.register(Box::new(metrics.run_seconds.clone()))?;
        registry.register(Box::new(metrics.abandoned.clone()))?;
        Ok(metrics)
    }

    /// Metrics registered nowhere, for tests and tools.
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("a fresh registry has no name clashes")
    }
}
