//! Persistence for finpulse.
//!
//! Everything the platform keeps lives behind one [`Store`] trait so the embedded default
//! (SQLite) and the distributed backend (PostgreSQL), both [`SqlStore`], are interchangeable and
//! are held to the same conformance tests. The trait is shaped around what callers do rather
//! than around tables: the market processor writes one [`MarketWrite`] batch per poll inside a
//! single transaction, the GraphQL layer reads.
//!
//! Timestamps cross this boundary as `chrono::DateTime<Utc>` and are stored as epoch
//! milliseconds, which both engines index well and compare exactly.

mod cache;
mod error;
mod model;
mod sql;
#[cfg(feature = "test-support")]
pub mod testing;

pub use cache::{CacheConfig, CachedStore};
pub use error::StoreError;
pub use model::{Candle, Insight, MarketWrite, ParkedEvent, ProcessorState, Quote};
pub use sql::{Engine, SqlStore};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Result type of every repository call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The repositories of finpulse, one implementation per storage engine.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip used by readiness probes.
    async fn ping(&self) -> Result<()>;

    /// Saves the state of `processor` for some keys. A saved state older than the one kept (a
    /// lower offset in the same partition, as a worker that lost its partitions but has not
    /// noticed yet would write) does not replace it.
    async fn save_processor_states(&self, processor: &str, states: &[ProcessorState])
    -> Result<()>;

    /// The log position (partition, offset) of each saved state of `processor` among `keys`.
    async fn processor_state_positions(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<(String, i32, i64)>>;

    /// The saved states of `processor` among `keys`.
    async fn processor_states(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<ProcessorState>>;

    /// Writes quotes, candles and insights of one processing batch atomically.
    ///
    /// Quotes and candles are upserts (the latest value wins); insights are keyed by their id,
    /// so writing the same batch twice (a redelivery) changes nothing.
    async fn record_market(&self, write: &MarketWrite) -> Result<()>;

    /// Every symbol with a quote, in alphabetical order.
    async fn symbols(&self) -> Result<Vec<String>>;

    /// The latest quote of `symbol`.
    async fn quote(&self, symbol: &str) -> Result<Option<Quote>>;

    /// Candles of `symbol` at `interval_secs` whose start lies in `[from, to)`, oldest first,
    /// at most `limit` of them (the most recent ones when more match).
    async fn candles(
        &self,
        symbol: &str,
        interval_secs: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Candle>>;

    /// The `last` most recent insights of `symbol`, newest first, optionally only `kinds`.
    async fn insights(&self, symbol: &str, kinds: &[String], last: u32) -> Result<Vec<Insight>>;

    /// Insights at or after `since` (market time), oldest first, at most `limit`: of `symbols`
    /// (all when empty) and `kinds` (all when empty). What a subscription that missed
    /// messages reads to catch up.
    async fn insights_since(
        &self,
        symbols: &[String],
        kinds: &[String],
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Insight>>;

    /// The symbols on `user_id`'s watchlist, in the order they were added.
    async fn watchlist(&self, user_id: &str) -> Result<Vec<String>>;

    /// Adds `symbol` to the watchlist (a no-op when present) and returns the new list.
    async fn add_to_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>>;

    /// Removes `symbol` from the watchlist (a no-op when absent) and returns the new list.
    async fn remove_from_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>>;

    /// Keeps an event that could not be processed, with the reason, for later inspection.
    async fn park_event(&self, event: &ParkedEvent) -> Result<()>;

    /// The most recently parked events, newest first.
    async fn parked_events(&self, limit: u32) -> Result<Vec<ParkedEvent>>;
}
