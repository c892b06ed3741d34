//! Streaming technical indicators, one value in, one value out, with TA-Lib's conventions.
//!
//! Each indicator consumes bars (or closes) one at a time and returns `None` until it has seen
//! enough history, exactly where TA-Lib's output starts (its "lookback"). Conventions that are
//! easy to get subtly wrong and that TA-Lib fixes:
//! - EMA is seeded with the SMA of its first `period` inputs, then `ema += k * (x - ema)`,
//!   `k = 2 / (period + 1)`.
//! - RSI and ATR use Wilder smoothing (`avg = (avg * (n - 1) + x) / n`) seeded with a plain mean.
//! - MACD's fast EMA is seeded on the `fast` closes that end where the slow EMA's seed ends, so
//!   both lines start on the same bar (TA-Lib `TA_MACD`), and the signal EMA runs on MACD values.
//! - Bollinger bands use the population standard deviation.
//!
//! VWAP, rolling volatility and the return z-score are not TA-Lib functions: VWAP follows the
//! `ta` package (typical price, rolling window), volatility and z-score follow pandas rolling
//! statistics with `ddof = 1`. The fixtures in `tests/fixtures/` hold the reference values.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// A fixed-size window of the most recent values.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Window {
    capacity: usize,
    values: VecDeque<f64>,
}

impl Window {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            values: VecDeque::with_capacity(capacity + 1),
        }
    }

    fn push(&mut self, value: f64) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    fn is_full(&self) -> bool {
        self.values.len() == self.capacity
    }

    // Sums are recomputed over the window (at most a few hundred values) rather than kept
    // running, so a process that runs for weeks accumulates no floating-point drift.
    fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }

    /// Standard deviation with `ddof` degrees of freedom removed (0: population, 1: sample).
    fn std(&self, ddof: usize) -> f64 {
        let mean = self.mean();
        let squares: f64 = self.values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (squares / (self.values.len() - ddof) as f64).sqrt()
    }
}

/// Simple moving average.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sma {
    window: Window,
}

impl Sma {
    /// An SMA over `period` values.
    pub fn new(period: usize) -> Self {
        Self {
            window: Window::new(period.max(1)),
        }
    }

    /// Feeds one value.
    pub fn update(&mut self, value: f64) -> Option<f64> {
        self.window.push(value);
        self.window.is_full().then(|| self.window.mean())
    }
}

/// Exponential moving average seeded with an SMA (TA-Lib's default).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl Ema {
    /// An EMA over `period` values.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Self {
            period,
            k: 2.0 / (period as f64 + 1.0),
            seen: 0,
            seed_sum: 0.0,
            value: None,
        }
    }

    /// An EMA that starts from `seed` as if it had already seen its warm-up.
    fn seeded(period: usize, seed: f64) -> Self {
        let mut ema = Self::new(period);
        ema.seen = ema.period;
        ema.value = Some(seed);
        ema
    }

    /// Feeds one value.
    pub fn update(&mut self, value: f64) -> Option<f64> {
        match self.value {
            Some(previous) => self.value = Some(previous + self.k * (value - previous)),
            None => {
                self.seen += 1;
                self.seed_sum += value;
                if self.seen == self.period {
                    self.value = Some(self.seed_sum / self.period as f64);
                }
            }
        }
        self.value
    }
}

/// Wilder smoothing seeded with the plain mean of the first `period` values.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wilder {
    period: usize,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl Wilder {
    fn new(period: usize) -> Self {
        Self {
            period: period.max(1),
            seen: 0,
            seed_sum: 0.0,
            value: None,
        }
    }

    fn update(&mut self, value: f64) -> Option<f64> {
        let n = self.period as f64;
        match self.value {
            Some(previous) => self.value = Some((previous * (n - 1.0) + value) / n),
            None => {
                self.seen += 1;
                self.seed_sum += value;
                if self.seen == self.period {
                    self.value = Some(self.seed_sum / n);
                }
            }
        }
        self.value
    }
}

/// Relative strength index with Wilder smoothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rsi {
    previous: Option<f64>,
    gains: Wilder,
    losses: Wilder,
}

impl Rsi {
    /// An RSI over `period` changes (14 is the classic).
    pub fn new(period: usize) -> Self {
        Self {
            previous: None,
            gains: Wilder::new(period),
            losses: Wilder::new(period),
        }
    }

    /// Feeds one close.
    pub fn update(&mut self, close: f64) -> Option<f64> {
        let previous = self.previous.replace(close)?;
        let change = close - previous;
        let gain = self.gains.update(change.max(0.0));
        let loss = self.losses.update((-change).max(0.0));
        let (gain, loss) = (gain?, loss?);
        let total = gain + loss;
        // TA-Lib reports 0 when nothing moved over the whole window.
        Some(if total.abs() < 1e-14 {
            0.0
        } else {
            100.0 * gain / total
        })
    }
}

/// MACD line, signal line and histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacdValue {
    /// Fast EMA minus slow EMA.
    pub macd: f64,
    /// EMA of the MACD line.
    pub signal: f64,
    /// MACD minus signal.
    pub histogram: f64,
}

/// Moving average convergence/divergence, TA-Lib style.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Macd {
    fast_period: usize,
    slow: Ema,
    recent: Window,
    fast: Option<Ema>,
    signal: Ema,
}

impl Macd {
    /// MACD with the given periods (12, 26, 9 is the classic).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        let (fast, slow) = if fast > slow {
            (slow, fast)
        } else {
            (fast, slow)
        };
        Self {
            fast_period: fast.max(1),
            slow: Ema::new(slow),
            recent: Window::new(fast.max(1)),
            fast: None,
            signal: Ema::new(signal),
        }
    }

    /// Feeds one close.
    pub fn update(&mut self, close: f64) -> Option<MacdValue> {
        self.recent.push(close);
        let slow = self.slow.update(close)?;
        let fast = match &mut self.fast {
            Some(fast) => fast.update(close)?,
            None => {
                // The slow EMA just produced its first value: seed the fast one on the closes
                // that end here, as TA-Lib does, so both lines start together.
                let seed = self.recent.mean();
                self.fast = Some(Ema::seeded(self.fast_period, seed));
                seed
            }
        };
        let macd = fast - slow;
        let signal = self.signal.update(macd)?;
        Some(MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        })
    }
}

/// Bollinger bands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BollingerValue {
    /// Middle plus `k` deviations.
    pub upper: f64,
    /// The SMA.
    pub middle: f64,
    /// Middle minus `k` deviations.
    pub lower: f64,
}

/// Bollinger bands over an SMA with the population standard deviation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bollinger {
    window: Window,
    deviations: f64,
}

impl Bollinger {
    /// Bands over `period` closes, `deviations` wide (20, 2 is the classic).
    pub fn new(period: usize, deviations: f64) -> Self {
        Self {
            window: Window::new(period.max(1)),
            deviations,
        }
    }

    /// Feeds one close.
    pub fn update(&mut self, close: f64) -> Option<BollingerValue> {
        self.window.push(close);
        if !self.window.is_full() {
            return None;
        }
        let middle = self.window.mean();
        let width = self.deviations * self.window.std(0);
        Some(BollingerValue {
            upper: middle + width,
            middle,
            lower: middle - width,
        })
    }
}

/// One OHLCV bar as the bar-based indicators see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

/// Average true range with Wilder smoothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Atr {
    previous_close: Option<f64>,
    smoothing: Wilder,
}

impl Atr {
    /// An ATR over `period` true ranges (14 is the classic).
    pub fn new(period: usize) -> Self {
        Self {
            previous_close: None,
            smoothing: Wilder::new(period),
        }
    }

    /// Feeds one bar.
    pub fn update(&mut self, bar: &Bar) -> Option<f64> {
        let previous_close = self.previous_close.replace(bar.close)?;
        let true_range = (bar.high - bar.low)
            .max((bar.high - previous_close).abs())
            .max((bar.low - previous_close).abs());
        self.smoothing.update(true_range)
    }
}

/// Volume-weighted average of the typical price over a rolling window of bars.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vwap {
    weighted: Window,
    volumes: Window,
}

impl Vwap {
    /// A VWAP over `period` bars.
    pub fn new(period: usize) -> Self {
        Self {
            weighted: Window::new(period.max(1)),
            volumes: Window::new(period.max(1)),
        }
    }

    /// Feeds one bar.
    pub fn update(&mut self, bar: &Bar) -> Option<f64> {
        let typical = (bar.high + bar.low + bar.close) / 3.0;
        self.weighted.push(typical * bar.volume);
        self.volumes.push(bar.volume);
        if !self.volumes.is_full() {
            return None;
        }
        let volume: f64 = self.volumes.values.iter().sum();
        (volume > 0.0).then(|| self.weighted.values.iter().sum::<f64>() / volume)
    }
}

/// Rolling statistics of log returns: volatility (sample std) and the z-score of the newest
/// return against the window before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Returns {
    previous_close: Option<f64>,
    window: Window,
}

/// What [`Returns`] reports for one close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReturnStats {
    /// The newest log return.
    pub log_return: f64,
    /// Sample standard deviation of the last `period` log returns, the newest included.
    pub volatility: Option<f64>,
    /// `(r - mean) / std` of the newest return against the `period` returns before it.
    pub zscore: Option<f64>,
}

impl Returns {
    /// Statistics over `period` returns.
    pub fn new(period: usize) -> Self {
        Self {
            previous_close: None,
            window: Window::new(period.max(2)),
        }
    }

    /// Feeds one close.
    pub fn update(&mut self, close: f64) -> Option<ReturnStats> {
        let previous = self.previous_close.replace(close)?;
        let log_return = (close / previous).ln();
        let zscore = self.window.is_full().then(|| {
            let std = self.window.std(1);
            if std > 0.0 {
                (log_return - self.window.mean()) / std
            } else {
                0.0
            }
        });
        self.window.push(log_return);
        let volatility = self.window.is_full().then(|| self.window.std(1));
        Some(ReturnStats {
            log_return,
            volatility,
            zscore,
        })
    }
}

/// Every indicator finpulse reports for a bar, `None` while warming up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Close of the bar.
    pub close: f64,
    /// Volume of the bar.
    pub volume: f64,
    /// SMA(20) of closes.
    pub sma20: Option<f64>,
    /// SMA(50) of closes.
    pub sma50: Option<f64>,
    /// EMA(20) of closes.
    pub ema20: Option<f64>,
    /// RSI(14).
    pub rsi14: Option<f64>,
    /// MACD(12, 26, 9).
    pub macd: Option<MacdValue>,
    /// Bollinger(20, 2).
    pub bollinger: Option<BollingerValue>,
    /// VWAP over 14 bars.
    pub vwap14: Option<f64>,
    /// ATR(14).
    pub atr14: Option<f64>,
    /// Volatility of log returns over 20 bars.
    pub volatility20: Option<f64>,
    /// Z-score of the newest log return against the 20 before it.
    pub return_zscore20: Option<f64>,
    /// Mean volume of the 20 bars before this one.
    pub average_volume20: Option<f64>,
}

/// The full indicator set of one symbol at one bar interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndicatorSet {
    sma20: Sma,
    sma50: Sma,
    ema20: Ema,
    rsi14: Rsi,
    macd: Macd,
    bollinger: Bollinger,
    vwap14: Vwap,
    atr14: Atr,
    returns20: Returns,
    volumes20: Window,
}

impl Default for IndicatorSet {
    fn default() -> Self {
        Self {
            sma20: Sma::new(20),
            sma50: Sma::new(50),
            ema20: Ema::new(20),
            rsi14: Rsi::new(14),
            macd: Macd::new(12, 26, 9),
            bollinger: Bollinger::new(20, 2.0),
            vwap14: Vwap::new(14),
            atr14: Atr::new(14),
            returns20: Returns::new(20),
            volumes20: Window::new(20),
        }
    }
}

impl IndicatorSet {
    /// Feeds one closed bar and returns every indicator's value after it.
    pub fn update(&mut self, bar: &Bar) -> Snapshot {
        let returns = self.returns20.update(bar.close);
        let average_volume20 = self.volumes20.is_full().then(|| self.volumes20.mean());
        self.volumes20.push(bar.volume);
        Snapshot {
            close: bar.close,
            volume: bar.volume,
            sma20: self.sma20.update(bar.close),
            sma50: self.sma50.update(bar.close),
            ema20: self.ema20.update(bar.close),
            rsi14: self.rsi14.update(bar.close),
            macd: self.macd.update(bar.close),
            bollinger: self.bollinger.update(bar.close),
            vwap14: self.vwap14.update(bar),
            atr14: self.atr14.update(bar),
            volatility20: returns.and_then(|r| r.volatility),
            return_zscore20: returns.and_then(|r| r.zscore),
            average_volume20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(values: &[f64], mut f: impl FnMut(f64) -> Option<f64>) -> Vec<Option<f64>> {
        values.iter().map(|v| f(*v)).collect()
    }

    #[test]
    fn sma_starts_after_its_period() {
        let mut sma = Sma::new(3);
        let out = feed(&[1.0, 2.0, 3.0, 4.0], |v| sma.update(v));
        assert_eq!(out, vec![None, None, Some(2.0), Some(3.0)]);
    }

    #[test]
    fn ema_is_seeded_with_the_sma() {
        let mut ema = Ema::new(3);
        let out = feed(&[1.0, 2.0, 3.0, 7.0], |v| ema.update(v));
        // seed = 2, then 2 + 0.5 * (7 - 2)
        assert_eq!(out, vec![None, None, Some(2.0), Some(4.5)]);
    }

    #[test]
    fn rsi_of_a_flat_series_is_zero_and_of_a_rising_one_is_100() {
        let mut flat = Rsi::new(3);
        assert_eq!(feed(&[5.0; 5], |v| flat.update(v)).last(), Some(&Some(0.0)));
        let mut rising = Rsi::new(3);
        let out = feed(&[1.0, 2.0, 3.0, 4.0, 5.0], |v| rising.update(v));
        assert_eq!(out[2], None);
        assert_eq!(out[3], Some(100.0));
    }

    #[test]
    fn returns_zscore_compares_against_the_previous_window() {
        let mut returns = Returns::new(3);
        let closes = [100.0, 101.0, 100.0, 101.0, 150.0];
        let out: Vec<_> = closes.iter().filter_map(|c| returns.update(*c)).collect();
        assert!(out[2].zscore.is_none());
        let jump = out[3].zscore.expect("window full");
        assert!(jump > 10.0, "a 40% jump after ±1% moves is extreme: {jump}");
    }
}
