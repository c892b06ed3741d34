//! What the repositories take and give beyond the shared market data of `finpulse-core`:
//! the market processor's batch, processor state and dead letters, all of them store concepts.

use chrono::{DateTime, Utc};
use finpulse_core::market::{Candle, Insight, Quote};

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
