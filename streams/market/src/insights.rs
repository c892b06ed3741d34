//! Market state per symbol: quotes, one-minute candles, indicators and the signals they raise.
//!
//! Pure logic, no IO: [`MarketState::on_tick`] folds one tick in and says what changed. Signals
//! are edge-triggered on closed candles (RSI *crossing* 70, not every bar above it), so a
//! subscriber gets one insight per event, and their ids are derived from symbol, kind and candle
//! start so reprocessing the same ticks yields the same insights.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use finpulse_core::market::{Candle, Insight, InsightKind, Quote};

use serde::{Deserialize, Serialize};

use crate::events::Tick;
use crate::indicators::{Bar, IndicatorSet, Snapshot};

/// Length of the candles finpulse builds, in seconds.
pub const CANDLE_INTERVAL_SECS: i64 = 60;

/// RSI level above which a symbol is overbought.
const RSI_OVERBOUGHT: f64 = 70.0;
/// RSI level below which a symbol is oversold.
const RSI_OVERSOLD: f64 = 30.0;
/// A bar's volume this many times the 20-bar average is a spike.
const VOLUME_SPIKE_RATIO: f64 = 3.0;
/// A return this many standard deviations from the recent mean is an anomaly.
const RETURN_ANOMALY_Z: f64 = 3.0;

/// What one tick changed.
#[derive(Debug, Clone, PartialEq)]
// Returned by value once per tick and taken apart at once by the caller: boxing the big variant
// would only add an allocation per tick.
#[allow(clippy::large_enum_variant)]
pub enum TickOutcome {
    /// The tick is older than the symbol's open candle and was left out.
    Late,
    /// The tick was folded in.
    Applied {
        /// The symbol's quote after the tick.
        quote: Quote,
        /// The open candle after the tick.
        candle: Candle,
        /// The candle the tick closed, if it opened a new one.
        closed: Option<Candle>,
        /// Insights raised by the closed candle.
        insights: Vec<Insight>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct SymbolState {
    day: NaiveDate,
    day_open: f64,
    day_volume: f64,
    candle: Candle,
    indicators: IndicatorSet,
    previous: Option<Snapshot>,
}

/// Streaming state of every symbol seen.
#[derive(Debug, Default)]
pub struct MarketState {
    symbols: HashMap<String, SymbolState>,
}

fn candle_start(ts: DateTime<Utc>) -> DateTime<Utc> {
    let ms = ts.timestamp_millis();
    let interval = CANDLE_INTERVAL_SECS * 1000;
    Utc.timestamp_millis_opt(ms - ms.rem_euclid(interval))
        .single()
        .expect("flooring a valid timestamp stays valid")
}

fn open_candle(tick: &Tick) -> Candle {
    Candle {
        symbol: tick.symbol.clone(),
        interval_secs: CANDLE_INTERVAL_SECS,
        start: candle_start(tick.ts),
        open: tick.price,
        high: tick.price,
        low: tick.price,
        close: tick.price,
        volume: tick.size,
        trades: 1,
    }
}

impl SymbolState {
    fn quote(&self, tick: &Tick) -> Quote {
        Quote {
            symbol: tick.symbol.clone(),
            price: tick.price,
            bid: tick.bid,
            ask: tick.ask,
            volume: self.day_volume,
            day_open: self.day_open,
            ts: tick.ts,
        }
    }
}

/// Version of the saved form of a symbol's state; a saved state of another version is not
/// restored (the symbol starts afresh) so an upgrade never misreads an old layout.
const STATE_VERSION: u32 = 1;

#[derive(Serialize)]
struct SavedRef<'a> {
    version: u32,
    state: &'a SymbolState,
}

#[derive(Deserialize)]
struct Saved {
    version: u32,
    state: SymbolState,
}

/// Why a saved state was not restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// It does not parse.
    #[error("saved state does not parse: {0}")]
    Malformed(#[from] serde_json::Error),
    /// It was saved by another version of the processor.
    #[error("saved state has version {0}, this processor reads {STATE_VERSION}")]
    Version(u32),
}

impl MarketState {
    /// The streaming state of `symbol` as JSON, for a worker that takes the symbol over.
    pub fn save(&self, symbol: &str) -> Option<String> {
        self.symbols.get(symbol).map(|state| {
            serde_json::to_string(&SavedRef {
                version: STATE_VERSION,
                state,
            })
            .expect("market state serialises")
        })
    }

    /// Replaces the state of `symbol` with one [`save`](Self::save)d elsewhere.
    pub fn restore(&mut self, symbol: &str, saved: &str) -> Result<(), RestoreError> {
        let saved: Saved = serde_json::from_str(saved)?;
        if saved.version != STATE_VERSION {
            return Err(RestoreError::Version(saved.version));
        }
        self.symbols.insert(symbol.to_owned(), saved.state);
        Ok(())
    }

    /// Forgets `symbol`, which then starts afresh.
    pub fn forget(&mut self, symbol: &str) {
        self.symbols.remove(symbol);
    }

    /// Folds one tick in.
    pub fn on_tick(&mut self, tick: &Tick) -> TickOutcome {
        let day = tick.ts.date_naive();
        let Some(state) = self.symbols.get_mut(&tick.symbol) else {
            let state = SymbolState {
                day,
                day_open: tick.price,
                day_volume: tick.size,
                candle: open_candle(tick),
                indicators: IndicatorSet::default(),
                previous: None,
            };
            let outcome = TickOutcome::Applied {
                quote: state.quote(tick),
                candle: state.candle.clone(),
                closed: None,
                insights: Vec::new(),
            };
            self.symbols.insert(tick.symbol.clone(), state);
            return outcome;
        };
        if tick.ts < state.candle.start {
            return TickOutcome::Late;
        }
        if day != state.day {
            state.day = day;
            state.day_open = tick.price;
            state.day_volume = 0.0;
        }
        state.day_volume += tick.size;
        let mut closed = None;
        let mut insights = Vec::new();
        if tick.ts >= state.candle.start + Duration::seconds(CANDLE_INTERVAL_SECS) {
            let finished = std::mem::replace(&mut state.candle, open_candle(tick));
            let snapshot = state.indicators.update(&Bar {
                open: finished.open,
                high: finished.high,
                low: finished.low,
                close: finished.close,
                volume: finished.volume,
            });
            insights = signals(&finished, state.previous.as_ref(), &snapshot);
            state.previous = Some(snapshot);
            closed = Some(finished);
        } else {
            let candle = &mut state.candle;
            candle.high = candle.high.max(tick.price);
            candle.low = candle.low.min(tick.price);
            candle.close = tick.price;
            candle.volume += tick.size;
            candle.trades += 1;
        }
        TickOutcome::Applied {
            quote: state.quote(tick),
            candle: state.candle.clone(),
            closed,
            insights,
        }
    }
}

fn crossed_above(
    previous: Option<f64>,
    current: Option<f64>,
    level_before: f64,
    level: f64,
) -> bool {
    matches!((previous, current), (Some(p), Some(c)) if p <= level_before && c > level)
}

/// Insights raised by a closed candle, given the indicators before and after it.
fn signals(candle: &Candle, previous: Option<&Snapshot>, now: &Snapshot) -> Vec<Insight> {
    let symbol = candle.symbol.as_str();
    let mut found: Vec<(InsightKind, &str, String)> = Vec::new();
    let mut found_signal = |kind, severity, message| found.push((kind, severity, message));
    if let Some(before) = previous {
        // Moving-average cross: SMA(20) against SMA(50).
        if let (Some(f0), Some(s0), Some(f1), Some(s1)) =
            (before.sma20, before.sma50, now.sma20, now.sma50)
        {
            if f0 <= s0 && f1 > s1 {
                found_signal(
                    InsightKind::MaBullishCross,
                    "notice",
                    format!("{symbol} SMA(20) crossed above SMA(50) at {f1:.2}"),
                );
            } else if f0 >= s0 && f1 < s1 {
                found_signal(
                    InsightKind::MaBearishCross,
                    "notice",
                    format!("{symbol} SMA(20) crossed below SMA(50) at {f1:.2}"),
                );
            }
        }
        if let (Some(m0), Some(m1)) = (before.macd, now.macd) {
            if m0.macd <= m0.signal && m1.macd > m1.signal {
                found_signal(
                    InsightKind::MacdBullishCross,
                    "notice",
                    format!(
                        "{symbol} MACD crossed above its signal line ({:.4} > {:.4})",
                        m1.macd, m1.signal
                    ),
                );
            } else if m0.macd >= m0.signal && m1.macd < m1.signal {
                found_signal(
                    InsightKind::MacdBearishCross,
                    "notice",
                    format!(
                        "{symbol} MACD crossed below its signal line ({:.4} < {:.4})",
                        m1.macd, m1.signal
                    ),
                );
            }
        }
        if crossed_above(before.rsi14, now.rsi14, RSI_OVERBOUGHT, RSI_OVERBOUGHT) {
            found_signal(
                InsightKind::RsiOverbought,
                "alert",
                format!(
                    "{symbol} RSI(14) rose above {RSI_OVERBOUGHT} to {:.1}: overbought",
                    now.rsi14.unwrap_or_default()
                ),
            );
        }
        if crossed_above(
            before.rsi14.map(|v| -v),
            now.rsi14.map(|v| -v),
            -RSI_OVERSOLD,
            -RSI_OVERSOLD,
        ) {
            found_signal(
                InsightKind::RsiOversold,
                "alert",
                format!(
                    "{symbol} RSI(14) fell below {RSI_OVERSOLD} to {:.1}: oversold",
                    now.rsi14.unwrap_or_default()
                ),
            );
        }
        if let (Some(b0), Some(b1)) = (before.bollinger, now.bollinger) {
            if before.close <= b0.upper && now.close > b1.upper {
                found_signal(
                    InsightKind::BollingerBreakoutUp,
                    "notice",
                    format!(
                        "{symbol} closed at {:.2}, above the upper Bollinger band {:.2}",
                        now.close, b1.upper
                    ),
                );
            } else if before.close >= b0.lower && now.close < b1.lower {
                found_signal(
                    InsightKind::BollingerBreakoutDown,
                    "notice",
                    format!(
                        "{symbol} closed at {:.2}, below the lower Bollinger band {:.2}",
                        now.close, b1.lower
                    ),
                );
            }
        }
    }
    if let Some(average) = now.average_volume20
        && average > 0.0
        && now.volume > VOLUME_SPIKE_RATIO * average
    {
        found_signal(
            InsightKind::VolumeSpike,
            "notice",
            format!(
                "{symbol} traded {:.0} in one minute, {:.1}× its 20-minute average",
                now.volume,
                now.volume / average
            ),
        );
    }
    if let Some(z) = now.return_zscore20
        && z.abs() >= RETURN_ANOMALY_Z
    {
        let direction = if z > 0.0 { "up" } else { "down" };
        found_signal(
            InsightKind::ReturnAnomaly,
            "alert",
            format!(
                "{symbol} moved {direction} {:.2}σ against its last 20 minutes",
                z.abs()
            ),
        );
    }
    found_signal(
        InsightKind::Indicators,
        "info",
        format!("{symbol} one-minute close {:.2}", now.close),
    );
    let indicators = serde_json::to_value(now).expect("a snapshot of plain numbers serialises");
    found
        .into_iter()
        .map(|(kind, severity, message)| Insight {
            id: format!(
                "{symbol}:{}:{}",
                kind.as_str(),
                candle.start.timestamp_millis()
            ),
            symbol: symbol.to_owned(),
            kind,
            severity: severity.to_owned(),
            message,
            ts: candle.start + Duration::seconds(CANDLE_INTERVAL_SECS),
            indicators: indicators.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(seconds: i64, price: f64, size: f64) -> Tick {
        Tick {
            symbol: "AAPL".into(),
            price,
            size,
            bid: price - 0.01,
            ask: price + 0.01,
            ts: Utc
                .timestamp_opt(1_767_000_000 + seconds, 0) // a whole minute
                .unwrap(),
        }
    }

    fn applied(outcome: TickOutcome) -> (Quote, Candle, Option<Candle>, Vec<Insight>) {
        match outcome {
            TickOutcome::Applied {
                quote,
                candle,
                closed,
                insights,
            } => (quote, candle, closed, insights),
            TickOutcome::Late => panic!("tick was late"),
        }
    }

    #[test]
    fn ticks_fold_into_one_minute_candles() {
        let mut state = MarketState::default();
        applied(state.on_tick(&tick(0, 10.0, 1.0)));
        applied(state.on_tick(&tick(20, 12.0, 2.0)));
        let (_, candle, closed, _) = applied(state.on_tick(&tick(59, 9.0, 3.0)));
        assert!(closed.is_none());
        assert_eq!(
            (candle.open, candle.high, candle.low, candle.close),
            (10.0, 12.0, 9.0, 9.0)
        );
        assert_eq!((candle.volume, candle.trades), (6.0, 3));
        let (quote, next, closed, insights) = applied(state.on_tick(&tick(61, 11.0, 1.0)));
        let closed = closed.expect("minute rolled");
        assert_eq!(closed.close, 9.0);
        assert_eq!(next.open, 11.0);
        assert_eq!(next.start - closed.start, Duration::seconds(60));
        assert_eq!(quote.volume, 7.0);
        assert_eq!(quote.day_open, 10.0);
        assert_eq!(
            insights.iter().map(|i| i.kind).collect::<Vec<_>>(),
            vec![InsightKind::Indicators]
        );
        assert_eq!(state.on_tick(&tick(5, 1.0, 1.0)), TickOutcome::Late);
    }

    #[test]
    fn a_steady_rise_then_a_crash_raises_rsi_and_anomaly_signals_once() {
        let mut state = MarketState::default();
        let mut kinds = Vec::new();
        let mut price = 100.0;
        for minute in 0..40 {
            // Alternate small moves so the statistics have spread, then climb.
            price *= if minute < 25 {
                if minute % 2 == 0 { 1.001 } else { 0.999 }
            } else {
                1.004
            };
            let (_, _, _, insights) = applied(state.on_tick(&tick(minute * 60, price, 100.0)));
            kinds.extend(insights.into_iter().map(|i| i.kind));
        }
        price *= 0.9;
        let (_, _, _, insights) = applied(state.on_tick(&tick(40 * 60, price, 5_000.0)));
        kinds.extend(insights.into_iter().map(|i| i.kind));
        let (_, _, _, insights) = applied(state.on_tick(&tick(41 * 60, price, 100.0)));
        let last: Vec<InsightKind> = insights.into_iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == InsightKind::RsiOverbought)
                .count(),
            1,
            "{kinds:?}"
        );
        for expected in [
            InsightKind::ReturnAnomaly,
            InsightKind::VolumeSpike,
            InsightKind::BollingerBreakoutDown,
        ] {
            assert!(last.contains(&expected), "{last:?}");
        }
    }

    #[test]
    fn insight_ids_are_deterministic() {
        let run = || {
            let mut state = MarketState::default();
            (0..5)
                .flat_map(|m| applied(state.on_tick(&tick(m * 60, 10.0 + m as f64, 1.0))).3)
                .map(|i| i.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        assert_eq!(run().len(), 4);
    }
}
