//! The market processor: reads ticks from the log, keeps [`MarketState`], persists what changed,
//! and publishes ticks, candles and insights to the fan-out.
//!
//! One loop iteration handles one polled batch: decode, fold in, write the batch to the store in
//! one transaction, publish, then commit the log offsets. Publishing after the write means a
//! client that sees an insight can already query it; committing last means a crash redelivers
//! rather than loses. Records that cannot be decoded are parked in the store with the reason and
//! counted; the batch goes on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use finpulse_store::{Candle, MarketWrite, ParkedEvent, Quote, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::envelope::{Envelope, EnvelopeError};
use crate::events::{
    ALL_INSIGHTS_CHANNEL, INSIGHTS_TOPIC, Published, TICKS_TOPIC, Tick, candle_channel,
    insight_channel, tick_channel,
};
use crate::insights::{MarketState, TickOutcome};
use crate::log::{Consumer, Record};
use crate::{EventLog, FanOut, StreamError, StreamMetrics};

/// Consumer group of the market processor.
pub const MARKET_GROUP: &str = "market-insights";

/// Most records handled per batch.
const BATCH: usize = 1024;

/// The market insights processor.
pub struct MarketProcessor {
    store: Arc<dyn Store>,
    fanout: Arc<dyn FanOut>,
    log: Arc<dyn EventLog>,
    metrics: StreamMetrics,
    state: MarketState,
    /// Highest offset handled per partition, so a redelivered record is not counted twice.
    handled: HashMap<i32, i64>,
}

/// What one batch produced for the fan-out.
#[derive(Debug, Default)]
struct Outgoing {
    ticks: Vec<Tick>,
    candles: HashMap<(String, i64), Candle>,
    insights: Vec<finpulse_store::Insight>,
}

fn encode<T: Serialize>(body: &T) -> Bytes {
    let message = Published {
        published_at: Utc::now(),
        body,
    };
    Bytes::from(serde_json::to_vec(&message).expect("market types serialise"))
}

fn park_reason(error: &EnvelopeError) -> &'static str {
    match error {
        EnvelopeError::Malformed(_) => "malformed",
        EnvelopeError::UnexpectedType(_) => "unexpected_type",
        EnvelopeError::UnsupportedVersion { .. } => "unsupported_version",
        EnvelopeError::InvalidPayload { .. } => "invalid_payload",
    }
}

impl MarketProcessor {
    /// A processor writing to `store` and publishing to `fanout`.
    pub fn new(
        store: Arc<dyn Store>,
        fanout: Arc<dyn FanOut>,
        log: Arc<dyn EventLog>,
        metrics: StreamMetrics,
    ) -> Self {
        Self {
            store,
            fanout,
            log,
            metrics,
            state: MarketState::default(),
            handled: HashMap::new(),
        }
    }

    /// Consumes ticks until `shutdown`, finishing the batch in hand before returning.
    pub async fn run(
        mut self,
        mut consumer: Box<dyn Consumer>,
        shutdown: CancellationToken,
    ) -> Result<(), StreamError> {
        info!(group = MARKET_GROUP, "market processor started");
        self.metrics
            .lag
            .with_label_values(&[MARKET_GROUP])
            .set(consumer.lag());
        loop {
            let records = tokio::select! {
                _ = shutdown.cancelled() => break,
                polled = consumer.poll(BATCH) => polled?,
            };
            let started = Instant::now();
            self.handle_batch(&records, &shutdown).await?;
            for last in last_per_partition(&records) {
                consumer.commit(last).await?;
            }
            self.metrics
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics
                .lag
                .with_label_values(&[MARKET_GROUP])
                .set(consumer.lag());
        }
        info!("market processor stopped");
        Ok(())
    }

    async fn handle_batch(
        &mut self,
        records: &[Record],
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let mut quotes: HashMap<String, Quote> = HashMap::new();
        let mut outgoing = Outgoing::default();
        let mut write = MarketWrite::default();
        for record in records {
            let handled = self.handled.entry(record.partition).or_insert(-1);
            if record.offset <= *handled {
                continue;
            }
            *handled = record.offset;
            self.metrics
                .processed
                .with_label_values(&[&record.topic])
                .inc();
            let tick = match Envelope::from_bytes(&record.payload).and_then(|e| e.decode::<Tick>())
            {
                Ok(tick) => tick,
                Err(reason) => {
                    self.park(record, &reason).await;
                    continue;
                }
            };
            if let TickOutcome::Applied {
                quote,
                candle,
                closed,
                insights,
            } = self.state.on_tick(&tick)
            {
                quotes.insert(quote.symbol.clone(), quote);
                if let Some(closed) = closed {
                    write.candles.push(closed);
                }
                outgoing.candles.insert(
                    (candle.symbol.clone(), candle.start.timestamp_millis()),
                    candle,
                );
                outgoing.insights.extend(insights);
                outgoing.ticks.push(tick);
            }
        }
        write.quotes = quotes.into_values().collect();
        write.candles.extend(outgoing.candles.values().cloned());
        write.insights = outgoing.insights.clone();
        self.persist(&write, shutdown).await?;
        self.publish(outgoing).await
    }

    /// Writes the batch, retrying while the store is unavailable: the offsets are committed only
    /// after this succeeds, so giving up would lose the batch.
    async fn persist(
        &self,
        write: &MarketWrite,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.store.record_market(write).await {
                Ok(()) => return Ok(()),
                Err(e) if !shutdown.is_cancelled() => {
                    error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "failed to persist market batch");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Hands the batch's results to the fan-out and appends insights to the log. A fan-out
    /// that cannot be reached (Redis restarting) does not stop the processor: the results are
    /// already stored, the failure is logged and counted, and subscribers are told they may have
    /// missed messages when their replica reconnects. A log append that fails does stop it, as
    /// the insight stream is the log's to keep.
    async fn publish(&self, outgoing: Outgoing) -> Result<(), StreamError> {
        for tick in &outgoing.ticks {
            self.send(&tick_channel(&tick.symbol), encode(tick)).await;
        }
        self.metrics
            .published
            .with_label_values(&["tick"])
            .inc_by(outgoing.ticks.len() as u64);
        for candle in outgoing.candles.values() {
            let channel = candle_channel(&candle.symbol, candle.interval_secs);
            self.send(&channel, encode(candle)).await;
        }
        self.metrics
            .published
            .with_label_values(&["candle"])
            .inc_by(outgoing.candles.len() as u64);
        for insight in &outgoing.insights {
            let message = encode(insight);
            self.send(&insight_channel(&insight.symbol), message.clone())
                .await;
            self.send(ALL_INSIGHTS_CHANNEL, message.clone()).await;
            self.log
                .append(INSIGHTS_TOPIC, &insight.symbol, message)
                .await?;
            self.metrics
                .appended
                .with_label_values(&[INSIGHTS_TOPIC])
                .inc();
        }
        self.metrics
            .published
            .with_label_values(&["insight"])
            .inc_by(outgoing.insights.len() as u64);
        Ok(())
    }

    async fn send(&self, channel: &str, message: Bytes) {
        if let Err(e) = self.fanout.publish(channel, message).await {
            warn!(%channel, error = %e, "failed to publish to the fan-out");
        }
    }

    async fn park(&self, record: &Record, reason: &EnvelopeError) {
        let label = park_reason(reason);
        warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "parking undecodable event");
        self.metrics
            .parked
            .with_label_values(&[&record.topic, label])
            .inc();
        let parked = ParkedEvent {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            key: record
                .key
                .as_ref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_owned),
            payload: record.payload.to_vec(),
            reason: reason.to_string(),
            parked_at: Utc::now(),
        };
        if let Err(e) = self.store.park_event(&parked).await {
            // The metric and the log line above still record it; the batch must go on.
            error!(error = %e, "failed to store parked event");
        }
    }
}

fn last_per_partition(records: &[Record]) -> Vec<&Record> {
    let mut last: HashMap<i32, &Record> = HashMap::new();
    for record in records {
        last.insert(record.partition, record);
    }
    last.into_values().collect()
}

/// Creates the topics the market pipeline uses.
pub async fn ensure_market_topics(log: &dyn EventLog, partitions: i32) -> Result<(), StreamError> {
    log.ensure_topic(TICKS_TOPIC, partitions).await?;
    log.ensure_topic(INSIGHTS_TOPIC, partitions).await
}
