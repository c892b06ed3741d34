//! The processor runtime: the one consumer loop every processor runs in.
//!
//! A processor is a [`Handler`] of one event type. The runtime polls its consumer group,
//! drops records it already handled (a redelivery after a rebalance), decodes each record's
//! envelope into the handler's event type, parks what cannot be decoded (counted, kept in the
//! [`Parking`] when one is given, appended to the dead-letter topic with its bytes), hands the
//! batch to the handler, and commits the batch's offsets only after the handler returned: a
//! crash redelivers, never loses. It keeps the consumer-lag and batch-time metrics and stops
//! between batches when the shutdown token is cancelled, finishing the batch in hand.
//!
//! [`retry`] is the runtime's answer to a dependency that is away for a while (the store
//! restarting): the handler's work is retried with backoff until it succeeds or shutdown comes,
//! since giving up would mean committing past work that was never done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::envelope::{Envelope, EnvelopeError, EventPayload};
use crate::log::{Consumer, Record};
use crate::{EventLog, StreamError, StreamMetrics};

/// Where a processor reads from and sets aside what it cannot read.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Consumer group (also the metrics' `group` label).
    pub group: &'static str,
    /// The topic consumed.
    pub topic: &'static str,
    /// Where undecodable records go, with their bytes.
    pub dead_letter_topic: &'static str,
    /// Most records per batch.
    pub batch: usize,
}

/// One decoded event with where it came from.
#[derive(Debug, Clone)]
pub struct Decoded<E> {
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// The envelope's id: the same on a redelivery, so results derived from it repeat alike.
    pub event_id: String,
    /// The event.
    pub event: E,
}

/// A processor: what it does with a batch of events.
#[async_trait]
pub trait Handler: Send {
    /// The event type of its topic.
    type Event: EventPayload + Send + Sync;

    /// Handles a batch in log order; the offsets are committed when this returns `Ok`. An error
    /// stops the processor (and with it the process, rather than serving stale data).
    async fn handle(
        &mut self,
        batch: Vec<Decoded<Self::Event>>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError>;
}

/// A record a processor could not handle, as it lands on a dead-letter topic: the original
/// bytes (base64, so nothing is lost whatever they were) with where they came from and why
/// they were set aside. Its key is the original record's key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// Topic the record was read from.
    pub topic: String,
    /// Partition within it.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Machine-readable reason: `malformed`, `unexpected_type`, `unsupported_version` or
    /// `invalid_payload`.
    pub reason_code: String,
    /// What was wrong, for people.
    pub reason: String,
    /// The record's payload, base64 (standard alphabet, padded).
    pub payload_base64: String,
    /// When it was set aside.
    pub dead_lettered_at: DateTime<Utc>,
}

/// A record set aside because it could not be decoded.
#[derive(Debug, Clone)]
pub struct Parked {
    /// Topic it was read from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Its key, when it was text.
    pub key: Option<String>,
    /// Its bytes, untouched.
    pub payload: Bytes,
    /// Machine-readable reason.
    pub reason_code: &'static str,
    /// For people.
    pub reason: String,
    /// When.
    pub parked_at: DateTime<Utc>,
}

/// Keeps parked records where operators can look at them (the store).
#[async_trait]
pub trait Parking: Send + Sync {
    /// Keeps `parked`; a failure is logged, never fatal.
    async fn park(&self, parked: &Parked) -> Result<(), String>;
}

fn reason_code(error: &EnvelopeError) -> &'static str {
    match error {
        EnvelopeError::Malformed(_) => "malformed",
        EnvelopeError::UnexpectedType(_) => "unexpected_type",
        EnvelopeError::UnsupportedVersion { .. } => "unsupported_version",
        EnvelopeError::InvalidPayload { .. } => "invalid_payload",
    }
}

/// What every processor of a process shares.
#[derive(Clone)]
pub struct Runtime {
    log: Arc<dyn EventLog>,
    metrics: StreamMetrics,
    parking: Option<Arc<dyn Parking>>,
}

impl Runtime {
    /// A runtime appending dead letters to `log`, keeping parked records in `parking` if given.
    pub fn new(
        log: Arc<dyn EventLog>,
        metrics: StreamMetrics,
        parking: Option<Arc<dyn Parking>>,
    ) -> Self {
        Self {
            log,
            metrics,
            parking,
        }
    }

    /// The log processors read and write.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The streams metrics.
    pub fn metrics(&self) -> &StreamMetrics {
        &self.metrics
    }

    /// Creates the topic and the dead-letter topic of `spec`.
    pub async fn ensure_topics(&self, spec: &Spec, partitions: i32) -> Result<(), StreamError> {
        self.log.ensure_topic(spec.topic, partitions).await?;
        self.log
            .ensure_topic(spec.dead_letter_topic, partitions)
            .await
    }

    /// Runs `handler` on `consumer` (of `spec`'s group) until `shutdown`.
    pub async fn run<H: Handler>(
        &self,
        spec: &Spec,
        mut consumer: Box<dyn Consumer>,
        mut handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), StreamError> {
        info!(group = spec.group, topic = spec.topic, "processor started");
        let lag = self.metrics.lag.with_label_values(&[spec.group]);
        lag.set(consumer.lag());
        // Highest offset handled per partition, so a redelivered record is not handled twice.
        let mut handled: HashMap<i32, i64> = HashMap::new();
        loop {
            let records = tokio::select! {
                _ = shutdown.cancelled() => break,
                polled = consumer.poll(spec.batch) => polled?,
            };
            let started = Instant::now();
            let mut batch = Vec::with_capacity(records.len());
            for record in &records {
                let last = handled.entry(record.partition).or_insert(-1);
                if record.offset <= *last {
                    continue;
                }
                *last = record.offset;
                self.metrics
                    .processed
                    .with_label_values(&[&record.topic])
                    .inc();
                match Envelope::from_bytes(&record.payload).and_then(|envelope| {
                    envelope
                        .decode::<H::Event>()
                        .map(|event| (envelope.id, event))
                }) {
                    Ok((id, event)) => batch.push(Decoded {
                        partition: record.partition,
                        offset: record.offset,
                        event_id: id.to_string(),
                        event,
                    }),
                    Err(reason) => self.park(spec, record, &reason).await,
                }
            }
            handler.handle(batch, &shutdown).await?;
            commit(consumer.as_mut(), &records).await?;
            self.metrics
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            lag.set(consumer.lag());
        }
        info!(group = spec.group, "processor stopped");
        Ok(())
    }

    async fn park(&self, spec: &Spec, record: &Record, reason: &EnvelopeError) {
        let code = reason_code(reason);
        warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "parking undecodable event");
        self.metrics
            .parked
            .with_label_values(&[&record.topic, code])
            .inc();
        let parked = Parked {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            key: record
                .key
                .as_ref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_owned),
            payload: record.payload.clone(),
            reason_code: code,
            reason: reason.to_string(),
            parked_at: Utc::now(),
        };
        if let Some(parking) = &self.parking
            && let Err(e) = parking.park(&parked).await
        {
            // The metric and the log line above still record it; the batch must go on.
            error!(error = %e, "failed to keep a parked event");
        }
        let letter = DeadLetter {
            topic: parked.topic.clone(),
            partition: parked.partition,
            offset: parked.offset,
            reason_code: code.to_owned(),
            reason: parked.reason.clone(),
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&parked.payload),
            dead_lettered_at: parked.parked_at,
        };
        let body = Bytes::from(serde_json::to_vec(&letter).expect("a dead letter serialises"));
        let key = parked.key.as_deref().unwrap_or_default();
        if let Err(e) = self.log.append(spec.dead_letter_topic, key, body).await {
            error!(error = %e, "failed to append to the dead-letter topic");
        }
    }
}

/// Commits the last record of every partition in `records`.
async fn commit(consumer: &mut dyn Consumer, records: &[Record]) -> Result<(), StreamError> {
    let mut last: HashMap<i32, &Record> = HashMap::new();
    for record in records {
        last.insert(record.partition, record);
    }
    for record in last.into_values() {
        consumer.commit(record).await?;
    }
    Ok(())
}

/// Runs `call` until it succeeds, backing off while it fails; gives up only on shutdown.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut call: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if !shutdown.is_cancelled() => {
                error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "failed to {what}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

type Running = futures::future::BoxFuture<'static, Result<(), StreamError>>;

/// The processors a process runs: each domain registers its own, the process starts them all.
pub struct Registry {
    runtime: Runtime,
    shutdown: CancellationToken,
    processors: Vec<(&'static str, Running)>,
}

impl Registry {
    /// An empty registry on `runtime`, whose processors stop when `shutdown` is cancelled.
    pub fn new(runtime: Runtime, shutdown: CancellationToken) -> Self {
        Self {
            runtime,
            shutdown,
            processors: Vec::new(),
        }
    }

    /// The runtime processors run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Adds `handler` on `spec`'s consumer group, which it joins now: events appended from
    /// here on are its to handle, however late the processor starts.
    pub async fn register<H: Handler + 'static>(
        &mut self,
        spec: Spec,
        handler: H,
    ) -> Result<(), StreamError> {
        let consumer = self.runtime.log.consumer(spec.topic, spec.group).await?;
        let (runtime, shutdown, group) = (self.runtime.clone(), self.shutdown.clone(), spec.group);
        let running = async move { runtime.run(&spec, consumer, handler, shutdown).await };
        self.processors.push((group, Box::pin(running)));
        Ok(())
    }

    /// Every registered processor, by consumer group, to be spawned and awaited.
    pub fn into_processors(self) -> Vec<(&'static str, Running)> {
        self.processors
    }
}
