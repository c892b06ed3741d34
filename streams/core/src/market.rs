//! Market data: the latest quote of a symbol, its OHLCV candles and the insights raised on them.
//!
//! `finpulse-market` computes them from ticks, `finpulse-store` keeps them, the fan-out carries
//! them (as JSON, in these field names) and the schema maps them into its objects.

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
    /// What was observed.
    pub kind: InsightKind,
    /// `info`, `notice` or `alert`.
    pub severity: String,
    /// Human-readable sentence.
    pub message: String,
    /// When the triggering tick happened.
    pub ts: DateTime<Utc>,
    /// Indicator values at that moment, as a JSON object.
    pub indicators: serde_json::Value,
}

// The one definition of the kinds: the processor raises them, the store keeps their names
// (`as_str`), the fan-out carries the same names (serde), and with the `graphql` feature the
// schema serves this very enum.
/// Kinds of market insight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum InsightKind {
    /// The indicator values at a one-minute close.
    Indicators,
    /// SMA(20) crossed above SMA(50).
    MaBullishCross,
    /// SMA(20) crossed below SMA(50).
    MaBearishCross,
    /// MACD crossed above its signal line.
    MacdBullishCross,
    /// MACD crossed below its signal line.
    MacdBearishCross,
    /// RSI(14) rose above 70.
    RsiOverbought,
    /// RSI(14) fell below 30.
    RsiOversold,
    /// A close above the upper Bollinger band.
    BollingerBreakoutUp,
    /// A close below the lower Bollinger band.
    BollingerBreakoutDown,
    /// One-minute volume over 3× its 20-minute average.
    VolumeSpike,
    /// A one-minute return 3σ or more from the recent mean.
    ReturnAnomaly,
}

impl InsightKind {
    /// Every kind.
    pub const ALL: [InsightKind; 11] = [
        Self::Indicators,
        Self::MaBullishCross,
        Self::MaBearishCross,
        Self::MacdBullishCross,
        Self::MacdBearishCross,
        Self::RsiOverbought,
        Self::RsiOversold,
        Self::BollingerBreakoutUp,
        Self::BollingerBreakoutDown,
        Self::VolumeSpike,
        Self::ReturnAnomaly,
    ];

    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Indicators => "INDICATORS",
            Self::MaBullishCross => "MA_BULLISH_CROSS",
            Self::MaBearishCross => "MA_BEARISH_CROSS",
            Self::MacdBullishCross => "MACD_BULLISH_CROSS",
            Self::MacdBearishCross => "MACD_BEARISH_CROSS",
            Self::RsiOverbought => "RSI_OVERBOUGHT",
            Self::RsiOversold => "RSI_OVERSOLD",
            Self::BollingerBreakoutUp => "BOLLINGER_BREAKOUT_UP",
            Self::BollingerBreakoutDown => "BOLLINGER_BREAKOUT_DOWN",
            Self::VolumeSpike => "VOLUME_SPIKE",
            Self::ReturnAnomaly => "RETURN_ANOMALY",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_name_of_every_kind_is_its_stored_name() {
        for kind in InsightKind::ALL {
            let wire = serde_json::to_value(kind).expect("a kind serialises");
            assert_eq!(wire, serde_json::Value::from(kind.as_str()));
            assert_eq!(InsightKind::parse(kind.as_str()), Some(kind));
            let back: InsightKind = serde_json::from_value(wire).expect("its name parses");
            assert_eq!(back, kind);
        }
        assert_eq!(InsightKind::parse("NOT_A_KIND"), None);
    }
}
