//! GraphQL object types, mapped with `From` from the shared market data of `finpulse-core`
//! (as the store returns it) and from the fan-out's `Published` messages.
//!
//! Mapped rather than derived on the core types because the API's shape differs from the
//! stored one: a pushed tick, candle or insight carries when it was published (the client's
//! measure of push latency) and a tick its event id (to drop a redelivered repeat), which the
//! stored values do not have; a quote shows its day change in percent rather than the day's
//! opening price it is computed from; and a candle's `interval` keeps the name clients have
//! used since the first release. `InsightKind` is served as it is.

use async_graphql::{Json, SimpleObject};
use chrono::{DateTime, Utc};
use finpulse_core::market;
use finpulse_market::events::{self, Published};

/// The latest price of a symbol.
#[derive(Debug, Clone, SimpleObject)]
pub struct Quote {
    /// Ticker symbol.
    pub symbol: String,
    /// Last traded price.
    pub price: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Volume traded today.
    pub volume: f64,
    /// Change since the day's first trade, in percent.
    pub change_percent: f64,
    /// Time of the last trade.
    pub ts: DateTime<Utc>,
}

impl From<market::Quote> for Quote {
    fn from(q: market::Quote) -> Self {
        let change_percent = if q.day_open > 0.0 {
            (q.price / q.day_open - 1.0) * 100.0
        } else {
            0.0
        };
        Self {
            symbol: q.symbol,
            price: q.price,
            bid: q.bid,
            ask: q.ask,
            volume: q.volume,
            change_percent,
            ts: q.ts,
        }
    }
}

/// A trade print, as pushed to `ticks` subscribers.
#[derive(Debug, Clone, SimpleObject)]
pub struct Tick {
    /// Id of the trade event: the same if the event is delivered again after a failure, so a
    /// client can drop the repeat.
    pub id: Option<String>,
    /// Ticker symbol.
    pub symbol: String,
    /// Trade price.
    pub price: f64,
    /// Trade size.
    pub size: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// When the trade happened (market time).
    pub ts: DateTime<Utc>,
    /// When the processor published it; the client's receive time minus this is the push latency.
    pub published_at: DateTime<Utc>,
}

impl From<Published<events::Tick>> for Tick {
    fn from(p: Published<events::Tick>) -> Self {
        Self {
            id: p.event_id,
            symbol: p.body.symbol,
            price: p.body.price,
            size: p.body.size,
            bid: p.body.bid,
            ask: p.body.ask,
            ts: p.body.ts,
            published_at: p.published_at,
        }
    }
}

/// One OHLCV bar.
#[derive(Debug, Clone, SimpleObject)]
pub struct Candle {
    /// Ticker symbol.
    pub symbol: String,
    /// Bar length in seconds.
    pub interval: i64,
    /// Start of the bar.
    pub start: DateTime<Utc>,
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price (so far, while the bar is open).
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Trades in the bar.
    pub trades: i64,
    /// When it was published, for pushed candles.
    pub published_at: Option<DateTime<Utc>>,
}

impl From<market::Candle> for Candle {
    fn from(c: market::Candle) -> Self {
        Self {
            symbol: c.symbol,
            interval: c.interval_secs,
            start: c.start,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            trades: c.trades,
            published_at: None,
        }
    }
}

impl From<Published<market::Candle>> for Candle {
    fn from(p: Published<market::Candle>) -> Self {
        Self {
            published_at: Some(p.published_at),
            ..Self::from(p.body)
        }
    }
}

pub use finpulse_core::market::InsightKind;

/// A signal or observation about a symbol.
#[derive(Debug, Clone, SimpleObject)]
pub struct Insight {
    /// Stable id (symbol, kind and candle).
    pub id: String,
    /// Ticker symbol.
    pub symbol: String,
    /// What was observed.
    pub kind: InsightKind,
    /// `info`, `notice` or `alert`.
    pub severity: String,
    /// A sentence for people.
    pub message: String,
    /// Market time of the observation.
    pub ts: DateTime<Utc>,
    /// Indicator values at that time.
    pub indicators: Json<serde_json::Value>,
    /// When it was published, for pushed insights.
    pub published_at: Option<DateTime<Utc>>,
}

impl From<market::Insight> for Insight {
    fn from(i: market::Insight) -> Self {
        Self {
            id: i.id,
            symbol: i.symbol,
            kind: i.kind,
            severity: i.severity,
            message: i.message,
            ts: i.ts,
            indicators: Json(i.indicators),
            published_at: None,
        }
    }
}

impl From<Published<market::Insight>> for Insight {
    fn from(p: Published<market::Insight>) -> Self {
        Self {
            published_at: Some(p.published_at),
            ..Self::from(p.body)
        }
    }
}
