//! The market processor: reads ticks from the log, keeps [`MarketState`], persists what changed,
//! and publishes ticks, candles and insights to the fan-out.
//!
//! One loop iteration handles one polled batch: decode, fold in, write the batch to the store in
//! one transaction, publish, save the streaming state, then commit the log offsets. Publishing
//! after the write means a client that sees an insight can already query it; committing last
//! means a crash redelivers rather than loses. Records that cannot be decoded are parked in the
//! store with the reason and counted; the batch goes on.
//!
//! On a durable log (Kafka), workers share the partitions of a consumer group and hand them over
//! when one stops or dies. The indicator state of each symbol is saved in the store after every
//! batch with the offset it reflects; before folding a batch in, a worker compares the saved
//! positions of the batch's symbols with its own and loads any state another worker moved on, so
//! a partition taken over continues exactly where its previous owner left off. A redelivered
//! record at or below the saved offset was folded in and its results published before the state
//! was saved, so it is skipped; one above it is processed again, and since insight ids derive from
//! symbol, kind and candle, its insights repeat with the same ids for clients to drop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use finpulse_store::{Candle, MarketWrite, ParkedEvent, ProcessorState, Quote, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::envelope::{Envelope, EnvelopeError};
use crate::events::{
    ALL_INSIGHTS_CHANNEL, DeadLetter, INSIGHTS_TOPIC, Published, TICKS_DEAD_LETTER_TOPIC,
    TICKS_TOPIC, Tick, candle_channel, insight_channel, tick_channel,
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
    /// Log position (partition, offset) each symbol's state reflects.
    applied: HashMap<String, (i32, i64)>,
    /// Whether state is saved and restored (the log is durable).
    shares_state: bool,
}

/// What one batch produced for the fan-out.
#[derive(Debug, Default)]
struct Outgoing {
    /// With the id of the event each came in.
    ticks: Vec<(String, Tick)>,
    candles: HashMap<(String, i64), Candle>,
    insights: Vec<finpulse_store::Insight>,
}

fn encode<T: Serialize>(body: &T) -> Bytes {
    encode_event(body, None)
}

fn encode_event<T: Serialize>(body: &T, event_id: Option<String>) -> Bytes {
    let message = Published {
        published_at: Utc::now(),
        event_id,
        body,
    };
    Bytes::from(serde_json::to_vec(&message).expect("market types serialise"))
}

/// Runs a store call until it succeeds, backing off while the store is unavailable: the offsets
/// are committed only after the batch's store work is done, so giving up would lose the batch.
/// Gives up only on shutdown.
async fn retry<T, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut call: F,
) -> Result<T, StreamError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = finpulse_store::Result<T>>,
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
            Err(e) => return Err(e.into()),
        }
    }
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
            shares_state: log.is_durable(),
            store,
            fanout,
            log,
            metrics,
            state: MarketState::default(),
            handled: HashMap::new(),
            applied: HashMap::new(),
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
        let mut ticks: Vec<(&Record, String, Tick)> = Vec::with_capacity(records.len());
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
            match Envelope::from_bytes(&record.payload)
                .and_then(|e| e.decode::<Tick>().map(|tick| (e.id, tick)))
            {
                Ok((id, tick)) => ticks.push((record, id.to_string(), tick)),
                Err(reason) => self.park(record, &reason).await,
            }
        }
        if self.shares_state {
            let symbols: HashSet<&str> = ticks.iter().map(|(_, _, t)| t.symbol.as_str()).collect();
            let symbols: Vec<String> = symbols.into_iter().map(str::to_owned).collect();
            self.catch_up(&symbols, shutdown).await?;
        }

        let mut quotes: HashMap<String, Quote> = HashMap::new();
        let mut outgoing = Outgoing::default();
        let mut write = MarketWrite::default();
        let mut touched: HashSet<String> = HashSet::new();
        for (record, event_id, tick) in ticks {
            let position = (record.partition, record.offset);
            if let Some(&(partition, offset)) = self.applied.get(&tick.symbol)
                && partition == record.partition
                && record.offset <= offset
            {
                // Folded in by this or a previous owner, and published, before the crash or
                // hand-over that redelivered it.
                continue;
            }
            self.applied.insert(tick.symbol.clone(), position);
            touched.insert(tick.symbol.clone());
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
                outgoing.ticks.push((event_id, tick));
            }
        }
        write.quotes = quotes.into_values().collect();
        write.candles.extend(outgoing.candles.values().cloned());
        write.insights = outgoing.insights.clone();
        self.persist(&write, shutdown).await?;
        self.publish(outgoing).await?;
        if self.shares_state {
            self.save_states(&touched, shutdown).await?;
        }
        Ok(())
    }

    /// Loads the saved state of every symbol that another worker moved past this one's.
    async fn catch_up(
        &mut self,
        symbols: &[String],
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        if symbols.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let positions = retry("read processor state positions", shutdown, || {
            store.processor_state_positions(MARKET_GROUP, symbols)
        })
        .await?;
        let stale: Vec<String> = positions
            .into_iter()
            .filter(|(symbol, partition, offset)| {
                self.applied.get(symbol) != Some(&(*partition, *offset))
            })
            .map(|(symbol, _, _)| symbol)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let saved = retry("read processor states", shutdown, || {
            store.processor_states(MARKET_GROUP, &stale)
        })
        .await?;
        for saved in saved {
            if let Err(e) = self.state.restore(&saved.key, &saved.state) {
                // Start the symbol afresh rather than fold ticks into a state we cannot read;
                // its next save replaces the unreadable one.
                warn!(symbol = %saved.key, error = %e, "failed to restore market state");
                self.state.forget(&saved.key);
            }
            info!(symbol = %saved.key, partition = saved.partition, offset = saved.offset, "took over market state");
            self.applied
                .insert(saved.key, (saved.partition, saved.offset));
        }
        Ok(())
    }

    /// Saves the state of the symbols this batch changed.
    async fn save_states(
        &self,
        touched: &HashSet<String>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let states: Vec<ProcessorState> = touched
            .iter()
            .filter_map(|symbol| {
                let (partition, offset) = *self.applied.get(symbol)?;
                Some(ProcessorState {
                    key: symbol.clone(),
                    partition,
                    offset,
                    state: self.state.save(symbol)?,
                })
            })
            .collect();
        let store = self.store.clone();
        retry("save market state", shutdown, || {
            store.save_processor_states(MARKET_GROUP, &states)
        })
        .await
    }

    /// Writes the batch, retrying while the store is unavailable.
    async fn persist(
        &self,
        write: &MarketWrite,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let store = self.store.clone();
        retry("persist market batch", shutdown, || {
            store.record_market(write)
        })
        .await
    }

    /// Hands the batch's results to the fan-out and appends insights to the log. A fan-out
    /// that cannot be reached (Redis restarting) does not stop the processor: the results are
    /// already stored, the failure is logged and counted, and subscribers are told they may have
    /// missed messages when their replica reconnects. A log append that fails does stop it, as
    /// the insight stream is the log's to keep.
    async fn publish(&self, outgoing: Outgoing) -> Result<(), StreamError> {
        for (event_id, tick) in &outgoing.ticks {
            self.send(
                &tick_channel(&tick.symbol),
                encode_event(tick, Some(event_id.clone())),
            )
            .await;
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
        let letter = DeadLetter {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            reason_code: label.to_owned(),
            reason: parked.reason,
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&record.payload),
            dead_lettered_at: parked.parked_at,
        };
        let body = Bytes::from(serde_json::to_vec(&letter).expect("a dead letter serialises"));
        let key = parked.key.as_deref().unwrap_or_default();
        if let Err(e) = self.log.append(TICKS_DEAD_LETTER_TOPIC, key, body).await {
            error!(error = %e, "failed to append to the dead-letter topic");
        }
    }
}

pub(crate) fn last_per_partition(records: &[Record]) -> Vec<&Record> {
    let mut last: HashMap<i32, &Record> = HashMap::new();
    for record in records {
        last.insert(record.partition, record);
    }
    last.into_values().collect()
}

/// Creates the topics the market pipeline uses.
pub async fn ensure_market_topics(log: &dyn EventLog, partitions: i32) -> Result<(), StreamError> {
    log.ensure_topic(TICKS_TOPIC, partitions).await?;
    log.ensure_topic(INSIGHTS_TOPIC, partitions).await?;
    log.ensure_topic(TICKS_DEAD_LETTER_TOPIC, partitions).await
}
