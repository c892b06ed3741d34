//! Payloads of the events finpulse moves, and the topics and fan-out channels they use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use finpulse_bus::envelope::EventPayload;
pub use finpulse_bus::runtime::DeadLetter;

/// Log topic of raw market ticks.
pub const TICKS_TOPIC: &str = "market.ticks";
/// Log topic of insights, for consumers downstream of the market processor.
pub const INSIGHTS_TOPIC: &str = "market.insights";

/// Log topic where the market processor sets aside ticks it cannot process.
pub const TICKS_DEAD_LETTER_TOPIC: &str = "market.ticks.dead-letter";

/// A fan-out channel of the market and of users, built from what it carries: its name is made
/// here only, so no code builds or parses channel strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The ticks of one symbol.
    Ticks(String),
    /// Candle updates of one symbol at one interval (seconds).
    Candles(String, i64),
    /// The insights of one symbol.
    Insights(String),
    /// Every insight of every symbol.
    AllInsights,
    /// A user's watchlist after every change, so live subscriptions follow it.
    Watchlist(String),
}

impl Channel {
    /// The channel's name on the fan-out (`ticks.AAPL`, `insights.all`, `watchlist.alice`).
    /// Symbols are upper case, so no symbol's channel can be the one of all insights.
    pub fn name(&self) -> String {
        match self {
            Self::Ticks(symbol) => format!("ticks.{symbol}"),
            Self::Candles(symbol, interval) => format!("candles.{symbol}.{interval}"),
            Self::Insights(symbol) => format!("insights.{symbol}"),
            Self::AllInsights => ALL_INSIGHTS_CHANNEL.to_owned(),
            Self::Watchlist(user) => format!("watchlist.{user}"),
        }
    }
}

/// The name of [`Channel::AllInsights`].
pub const ALL_INSIGHTS_CHANNEL: &str = "insights.all";

/// A trade print with the prevailing quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    /// Ticker symbol, upper case.
    pub symbol: String,
    /// Trade price.
    pub price: f64,
    /// Trade size.
    pub size: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// When the trade happened (market time; a replay or a sped-up simulator may differ from now).
    pub ts: DateTime<Utc>,
}

impl EventPayload for Tick {
    const TYPE: &'static str = "market.tick";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.symbol
    }

    fn validate(&self) -> Result<(), String> {
        check_symbol(&self.symbol)?;
        if !(self.price.is_finite() && self.price > 0.0) {
            return Err(format!("price must be positive, got {}", self.price));
        }
        if !(self.size.is_finite() && self.size >= 0.0) {
            return Err(format!("size must be non-negative, got {}", self.size));
        }
        if !(self.bid.is_finite() && self.ask.is_finite()) {
            return Err("bid and ask must be finite".into());
        }
        Ok(())
    }
}

/// The one rule for a ticker symbol, on every way in (events, replay, the API): 1 to 32 of
/// `A-Z 0-9 . - _`, upper case. The API upper-cases what clients type before checking; events
/// must already be upper case, so that what is stored can always be asked for.
pub fn check_symbol(symbol: &str) -> Result<(), String> {
    let valid = !symbol.is_empty()
        && symbol.len() <= 32
        && symbol.bytes().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid symbol `{}`: use 1 to 32 of A-Z, 0-9, '.', '-' or '_'",
            symbol.chars().take(40).collect::<String>()
        ))
    }
}

/// What travels on the fan-out: a message plus the time it was published, so the far end can
/// measure latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published<T> {
    /// When the processor published it.
    pub published_at: DateTime<Utc>,
    /// Id of the event it came from (a tick's envelope id): the same when a redelivered event
    /// is published again, so clients can drop the repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The message.
    pub body: T,
}
