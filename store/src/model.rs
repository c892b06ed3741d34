//! Plain data carried in and out of the repositories.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The latest known price of a symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Ticker symbol, upper case.
    pub symbol: String,
    /// Last traded price.
    pub price: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Volume traded today.
    pub volume: f64,
    /// First price of the trading day, for the day change.
    pub day_open: f64,
    /// When the last trade happened.
    pub ts: DateTime<Utc>,
}

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    /// Ticker symbol.
    pub symbol: String,
    /// Bar length in seconds (60 for one-minute candles).
    pub interval_secs: i64,
    /// Start of the bar, aligned to the interval.
    pub start: DateTime<Utc>,
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price.
    pub close: f64,
    /// Traded volume.
    pub volume: f64,
    /// Number of ticks folded into the bar.
    pub trades: i64,
}

/// A signal or observation produced by the market insights processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    /// Deterministic id derived from the triggering event, so redeliveries are idempotent.
    pub id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// Machine-readable kind, for example `RSI_OVERBOUGHT` or `MACD_BULLISH_CROSS`.
    pub kind: String,
    /// `info`, `notice` or `alert`.
    pub severity: String,
    /// Human-readable sentence.
    pub message: String,
    /// When the triggering tick happened.
    pub ts: DateTime<Utc>,
    /// Indicator values at that moment, as a JSON object.
    pub indicators: serde_json::Value,
}

/// Everything one processing batch writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct MarketWrite {
    /// Latest quote per symbol touched by the batch.
    pub quotes: Vec<Quote>,
    /// Candles touched by the batch (open ones included; they are upserted).
    pub candles: Vec<Candle>,
    /// New insights.
    pub insights: Vec<Insight>,
}

impl MarketWrite {
    /// True when the batch would write nothing.
    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty() && self.candles.is_empty() && self.insights.is_empty()
    }
}

/// A processor's saved streaming state for one key, with the log position it reflects: every
/// record of `partition` up to `offset` is folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorState {
    /// The key (a symbol for the market processor).
    pub key: String,
    /// Log partition the key lives in.
    pub partition: i32,
    /// Offset of the last record folded in.
    pub offset: i64,
    /// The state, serialised by its processor.
    pub state: String,
}

/// An event that a consumer could not handle, kept whole with the reason (dead letter).
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedEvent {
    /// Log topic it was read from.
    pub topic: String,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The record key, when it had one and it was text.
    pub key: Option<String>,
    /// The raw bytes as they were in the log.
    pub payload: Vec<u8>,
    /// Why it was parked.
    pub reason: String,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}
