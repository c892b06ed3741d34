//! Price momentum: how an instrument's price has moved, from its end-of-day candles.
//!
//! An instrument's market symbol is its catalogue id (the id a bank's instrument master and its
//! price feed share). [`Momentum::from_candles`] reads daily candles (`interval_secs` 86 400)
//! and uses only the bars that had closed by the time asked for, so the feature store's
//! `item_momentum@1` rows are point-in-time correct like every other set: a row as of a
//! Tuesday knows Monday's close and nothing after it.
//!
//! The demo catalogue's instruments are invented and have no feed; [`demo_prices`] writes each
//! a seeded random walk of daily closes (volatility from its risk class), which the behaviour
//! simulator seeds into the store and whose trend its trend-following customers chase. The
//! market simulator's intraday symbols are a different, live-ticked set.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use finpulse_core::market::Candle;
use finpulse_core::recommend::{Item, ItemKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// One day, the bar length momentum reads.
pub const DAY_SECS: i64 = 86_400;
/// Trading days in the long window ("one month").
pub const LONG_DAYS: usize = 20;
/// Trading days in the short window ("one week").
pub const SHORT_DAYS: usize = 5;

/// An instrument's momentum as of a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Momentum {
    /// The last close known.
    pub close: f64,
    /// Log return over the last [`SHORT_DAYS`] closes (fewer when the history is shorter).
    pub return_short: f64,
    /// Log return over the last [`LONG_DAYS`] closes (fewer when the history is shorter).
    pub return_long: f64,
    /// Standard deviation of the daily log returns in the long window.
    pub volatility: f64,
    /// Closes the long window had.
    pub days: usize,
}

impl Momentum {
    /// Momentum from daily `candles` (any order, other intervals ignored) as of `as_of`: only
    /// bars whose day had ended by then count. `None` with fewer than two such bars or a
    /// non-positive close.
    pub fn from_candles(candles: &[Candle], as_of: DateTime<Utc>) -> Option<Self> {
        let mut closed: Vec<&Candle> = candles
            .iter()
            .filter(|c| {
                c.interval_secs == DAY_SECS && c.start + Duration::seconds(DAY_SECS) <= as_of
            })
            .collect();
        closed.sort_by_key(|c| c.start);
        let window = &closed[closed.len().saturating_sub(LONG_DAYS + 1)..];
        if window.len() < 2
            || window
                .iter()
                .any(|c| !(c.close > 0.0 && c.close.is_finite()))
        {
            return None;
        }
        let last = window[window.len() - 1].close;
        let back = |days: usize| window[window.len().saturating_sub(days + 1)].close;
        let returns: Vec<f64> = window
            .windows(2)
            .map(|pair| (pair[1].close / pair[0].close).ln())
            .collect();
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        let variance =
            returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / returns.len() as f64;
        Some(Self {
            close: last,
            return_short: (last / back(SHORT_DAYS)).ln(),
            return_long: (last / back(LONG_DAYS)).ln(),
            volatility: variance.sqrt(),
            days: window.len() - 1,
        })
    }

    /// The direction of a 20-day log return `r` as the ranker reads it: tanh(r / 10 %), in
    /// (−1, 1); its `momentum` column is 0.5 + 0.5 × this (0.5 without prices).
    pub fn direction(r: f64) -> f32 {
        (r / 0.10).tanh() as f32
    }
}

/// The demo's end-of-day history: for every instrument of `items`, `days` daily candles ending
/// with the day before `end`'s day, a seeded geometric random walk whose yearly volatility grows
/// with the risk class (about 3 % for class 1, 60 % for class 7) and whose drift differs per
/// instrument, so trends last long enough to follow. Deterministic for a seed and end day.
pub fn demo_prices(items: &[Item], seed: u64, end: DateTime<Utc>, days: usize) -> Vec<Candle> {
    let today = end.date_naive().and_time(NaiveTime::MIN).and_utc();
    let mut candles = Vec::with_capacity(items.len() * days);
    for (index, item) in items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind == ItemKind::Instrument)
    {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
        let risk = f64::from(item.risk.unwrap_or(4).clamp(1, 7));
        let yearly_volatility = 0.03 * (risk - 1.0).exp2().min(20.0);
        let daily = yearly_volatility / 252f64.sqrt();
        // A drift of up to ±1.5 daily sigmas a day: strong enough for a month's trend to be
        // visible above the noise, different per instrument.
        let z: f64 = StandardNormal.sample(&mut rng);
        let drift = daily * 0.25 * z.clamp(-6.0, 6.0);
        let mut price = 20.0 + 180.0 * (index % 17) as f64 / 16.0;
        for day in (1..=days).rev() {
            let start = today - Duration::days(day as i64);
            let open = price;
            let shock: f64 = StandardNormal.sample(&mut rng);
            price *= (drift - daily * daily / 2.0 + daily * shock).exp();
            candles.push(Candle {
                symbol: item.id.clone(),
                interval_secs: DAY_SECS,
                start,
                open,
                high: open.max(price),
                low: open.min(price),
                close: price,
                volume: 0.0,
                trades: 0,
            });
        }
    }
    candles
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap()
    }

    fn bar(d: u32, close: f64) -> Candle {
        Candle {
            symbol: "X".into(),
            interval_secs: DAY_SECS,
            start: day(d),
            open: close,
            high: close,
            low: close,
            close,
            volume: 0.0,
            trades: 0,
        }
    }

    #[test]
    fn only_closed_days_count() {
        let candles = vec![bar(2, 100.0), bar(3, 110.0), bar(4, 121.0), bar(5, 1000.0)];
        // As of the 5th at noon the 5th's bar is still open: the last close is the 4th's.
        let noon = day(5) + Duration::hours(12);
        let m = Momentum::from_candles(&candles, noon).unwrap();
        assert_eq!(m.close, 121.0);
        assert_eq!(m.days, 2);
        assert!((m.return_long - (121.0f64 / 100.0).ln()).abs() < 1e-12);
        // Two equal daily returns of ln 1.1: no dispersion.
        assert!(m.volatility < 1e-12, "{m:?}");
        // At midnight of the 6th the 5th has closed.
        let m = Momentum::from_candles(&candles, day(6)).unwrap();
        assert_eq!(m.close, 1000.0);
        // One bar closed is not a trend.
        assert_eq!(
            Momentum::from_candles(&candles, day(3) + Duration::hours(1)),
            None
        );
    }

    #[test]
    fn windows_are_the_last_closes() {
        let candles: Vec<Candle> = (1..=28).map(|d| bar(d, f64::from(d))).collect();
        let m = Momentum::from_candles(&candles, day(29)).unwrap();
        assert_eq!(m.days, LONG_DAYS);
        assert!((m.return_long - (28.0f64 / 8.0).ln()).abs() < 1e-12);
        assert!((m.return_short - (28.0f64 / 23.0).ln()).abs() < 1e-12);
        let bad = vec![bar(1, 10.0), bar(2, 0.0)];
        assert_eq!(Momentum::from_candles(&bad, day(10)), None);
    }

    #[test]
    fn the_direction_is_signed_bounded_and_monotone() {
        assert_eq!(Momentum::direction(0.0), 0.0);
        assert!(Momentum::direction(0.05) > 0.0);
        assert!(Momentum::direction(-0.05) < 0.0);
        assert!(Momentum::direction(0.2) > Momentum::direction(0.1));
        assert!(Momentum::direction(10.0) <= 1.0 && Momentum::direction(-10.0) >= -1.0);
    }

    #[test]
    fn demo_prices_are_deterministic_daily_and_for_instruments_only() {
        let catalogue = crate::catalogue::Catalogue::demo();
        let end = day(20) + Duration::hours(15);
        let a = demo_prices(catalogue.items(), 7, end, 30);
        let b = demo_prices(catalogue.items(), 7, end, 30);
        assert_eq!(a, b);
        let instruments = catalogue
            .items()
            .iter()
            .filter(|i| i.kind == ItemKind::Instrument)
            .count();
        assert_eq!(a.len(), instruments * 30);
        assert!(a.iter().all(|c| c.start < day(20) && c.close > 0.0));
        let last = a.iter().map(|c| c.start).max().unwrap();
        assert_eq!(last, day(19));
    }
}
