//! The market processor: reads ticks from the log, keeps [`MarketState`], persists what changed,
//! and publishes ticks, candles and insights to the fan-out.
//!
//! It is a [`Handler`] of ticks in the [processor runtime](crate::runtime), which polls, decodes,
//! parks what cannot be decoded and commits. Each batch: fold in, write the batch to the store in
//! one transaction, publish, save the streaming state; the runtime then commits the offsets.
//! Publishing after the write means a client that sees an insight can already query it;
//! committing last means a crash redelivers rather than loses. Insights also go on
//! `market.insights`, each in the versioned envelope, for consumers downstream.
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
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use finpulse_core::market::{Candle, Insight, Quote};
use finpulse_store::{
    DeadLetters, MarketData, MarketWrite, ParkedEvent, ProcessorState, ProcessorStates,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::events::{
    Channel, INSIGHTS_TOPIC, Published, TICKS_DEAD_LETTER_TOPIC, TICKS_TOPIC, Tick,
};
use crate::insights::{MarketState, TickOutcome};
use finpulse_bus::envelope::{Envelope, EventPayload};
use finpulse_bus::runtime::{Decoded, Handler, Parked, Parking, Spec, retry};
use finpulse_bus::{EventLog, FanOut, StreamError, StreamMetrics};

/// Consumer group of the market processor.
pub const MARKET_GROUP: &str = "market-insights";

/// Where the market processor reads and what it sets aside.
pub const MARKET: Spec = Spec {
    group: MARKET_GROUP,
    topic: TICKS_TOPIC,
    dead_letter_topic: TICKS_DEAD_LETTER_TOPIC,
    batch: 1024,
};

/// An insight as it travels on `market.insights` (the payload is the insight itself).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct InsightEvent(pub Insight);

impl EventPayload for InsightEvent {
    const TYPE: &'static str = "market.insight";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.0.symbol
    }
}

/// Parked records kept in the store's dead letters.
pub struct StoreParking(pub Arc<dyn DeadLetters>);

#[async_trait]
impl Parking for StoreParking {
    async fn park(&self, parked: &Parked) -> Result<(), String> {
        let event = ParkedEvent {
            topic: parked.topic.clone(),
            partition: parked.partition,
            offset: parked.offset,
            key: parked.key.clone(),
            payload: parked.payload.to_vec(),
            reason: parked.reason.clone(),
            parked_at: parked.parked_at,
        };
        self.0.park_event(&event).await.map_err(|e| e.to_string())
    }
}

/// The market insights processor.
pub struct MarketProcessor {
    market: Arc<dyn MarketData>,
    states: Arc<dyn ProcessorStates>,
    fanout: Arc<dyn FanOut>,
    log: Arc<dyn EventLog>,
    metrics: StreamMetrics,
    state: MarketState,
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
    insights: Vec<Insight>,
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

impl MarketProcessor {
    /// A processor writing to `market` (its state to `states`) and publishing to `fanout`.
    pub fn new(
        market: Arc<dyn MarketData>,
        states: Arc<dyn ProcessorStates>,
        fanout: Arc<dyn FanOut>,
        log: Arc<dyn EventLog>,
        metrics: StreamMetrics,
    ) -> Self {
        Self {
            shares_state: log.is_durable(),
            market,
            states,
            fanout,
            log,
            metrics,
            state: MarketState::default(),
            applied: HashMap::new(),
        }
    }

    async fn handle_batch(
        &mut self,
        ticks: Vec<Decoded<Tick>>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        if self.shares_state {
            let symbols: HashSet<&str> = ticks.iter().map(|t| t.event.symbol.as_str()).collect();
            let symbols: Vec<String> = symbols.into_iter().map(str::to_owned).collect();
            let started = Instant::now();
            self.catch_up(&symbols, shutdown).await?;
            self.time_stage("catch_up", started);
        }

        let mut quotes: HashMap<String, Quote> = HashMap::new();
        let mut outgoing = Outgoing::default();
        let mut write = MarketWrite::default();
        let mut touched: HashSet<String> = HashSet::new();
        for Decoded {
            partition: record_partition,
            offset: record_offset,
            event_id,
            event: tick,
        } in ticks
        {
            let position = (record_partition, record_offset);
            if let Some(&(partition, offset)) = self.applied.get(&tick.symbol)
                && partition == record_partition
                && record_offset <= offset
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
        let started = Instant::now();
        self.persist(&write, shutdown).await?;
        self.time_stage("store", started);
        let started = Instant::now();
        self.publish(outgoing).await?;
        self.time_stage("publish", started);
        if self.shares_state {
            let started = Instant::now();
            self.save_states(&touched, shutdown).await?;
            self.time_stage("save_state", started);
        }
        Ok(())
    }

    fn time_stage(&self, stage: &str, started: Instant) {
        self.metrics
            .stage_seconds
            .with_label_values(&[stage])
            .observe(started.elapsed().as_secs_f64());
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
        let store = self.states.clone();
        let positions = retry("read processor state positions", shutdown, || {
            store.processor_state_positions(MARKET_GROUP, symbols)
        })
        .await
        .map_err(|e| StreamError::dependency("reading processor state positions", e))?;
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
        .await
        .map_err(|e| StreamError::dependency("reading processor states", e))?;
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
        let store = self.states.clone();
        retry("save market state", shutdown, || {
            store.save_processor_states(MARKET_GROUP, &states)
        })
        .await
        .map_err(|e| StreamError::dependency("saving market state", e))
    }

    /// Writes the batch, retrying while the store is unavailable.
    async fn persist(
        &self,
        write: &MarketWrite,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let store = self.market.clone();
        retry("persist market batch", shutdown, || {
            store.record_market(write)
        })
        .await
        .map_err(|e| StreamError::dependency("persisting a market batch", e))
    }

    /// Hands the batch's results to the fan-out and appends insights to the log. A fan-out
    /// that cannot be reached (Redis restarting) does not stop the processor: the results are
    /// already stored, the failure is logged and counted, and subscribers are told they may have
    /// missed messages when their replica reconnects. A log append that fails does stop it, as
    /// the insight stream is the log's to keep.
    async fn publish(&self, outgoing: Outgoing) -> Result<(), StreamError> {
        for (event_id, tick) in &outgoing.ticks {
            self.send(
                &Channel::Ticks(tick.symbol.clone()),
                encode_event(tick, Some(event_id.clone())),
            )
            .await;
        }
        self.metrics
            .published
            .with_label_values(&["tick"])
            .inc_by(outgoing.ticks.len() as u64);
        for candle in outgoing.candles.values() {
            let channel = Channel::Candles(candle.symbol.clone(), candle.interval_secs);
            self.send(&channel, encode(candle)).await;
        }
        self.metrics
            .published
            .with_label_values(&["candle"])
            .inc_by(outgoing.candles.len() as u64);
        for insight in &outgoing.insights {
            let message = encode(insight);
            self.send(&Channel::Insights(insight.symbol.clone()), message.clone())
                .await;
            self.send(&Channel::AllInsights, message).await;
            let event = Envelope::wrap(&InsightEvent(insight.clone()))
                .and_then(|e| e.to_bytes())
                .map_err(StreamError::Encode)?;
            self.log
                .append(INSIGHTS_TOPIC, &insight.symbol, Bytes::from(event))
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

    async fn send(&self, channel: &Channel, message: Bytes) {
        let name = channel.name();
        if let Err(e) = self.fanout.publish(&name, message).await {
            warn!(channel = %name, error = %e, "failed to publish to the fan-out");
        }
    }
}

#[async_trait]
impl Handler for MarketProcessor {
    type Event = Tick;

    async fn handle(
        &mut self,
        batch: Vec<Decoded<Tick>>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        self.handle_batch(batch, shutdown).await
    }
}

/// Registers the market processor (it writes to `market` and `states`, publishes to `fanout`).
pub async fn register(
    registry: &mut finpulse_bus::runtime::Registry,
    market: Arc<dyn MarketData>,
    states: Arc<dyn ProcessorStates>,
    fanout: Arc<dyn FanOut>,
) -> Result<(), StreamError> {
    let runtime = registry.runtime();
    let processor = MarketProcessor::new(
        market,
        states,
        fanout,
        runtime.log().clone(),
        runtime.metrics().clone(),
    );
    registry.register(MARKET, processor).await
}

/// Creates the topics the market pipeline uses.
pub async fn ensure_market_topics(log: &dyn EventLog, partitions: i32) -> Result<(), StreamError> {
    log.ensure_topic(TICKS_TOPIC, partitions).await?;
    log.ensure_topic(INSIGHTS_TOPIC, partitions).await?;
    log.ensure_topic(TICKS_DEAD_LETTER_TOPIC, partitions).await
}
