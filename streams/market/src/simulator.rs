//! A market simulator realistic enough to drive every indicator and signal.
//!
//! Prices follow geometric Brownian motion per symbol with its own annual drift and volatility,
//! plus rare jumps (news) so anomaly detection has something real to find. Trade sizes are
//! log-normal, scaled by a U-shaped intraday profile (busy open and close, quiet lunch), with
//! occasional block trades. Quotes straddle the price with a spread that widens with volatility.
//!
//! The simulator keeps its own market clock. It first writes `warmup` of history as fast as the
//! log accepts (so indicators are warm when a user connects), then runs live with the market
//! clock moving `speed` times faster than the wall clock. Everything is drawn from one seeded
//! ChaCha generator per symbol, so a given seed replays the same market.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, StandardNormal};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::info;

use finpulse_core::market::Quote;

use crate::events::Tick;
use crate::source::publish_tick;
use finpulse_bus::{EventLog, StreamError, StreamMetrics};

/// Seconds in a trading year of 252 days of 6.5 hours, for scaling annual drift and volatility.
const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

/// One simulated instrument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolSpec {
    /// Ticker symbol.
    pub symbol: String,
    /// Starting price.
    pub price: f64,
    /// Annual drift (0.08 = 8% a year).
    pub drift: f64,
    /// Annual volatility (0.25 = 25% a year).
    pub volatility: f64,
    /// Mean trade size.
    pub mean_size: f64,
}

/// Settings of the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Generate ticks at all.
    pub enabled: bool,
    /// Seed of the random generators.
    pub seed: u64,
    /// Market seconds between two ticks of one symbol.
    pub tick_interval_secs: f64,
    /// How much faster than the wall clock the market clock runs once live.
    pub speed: f64,
    /// Market minutes of history written before going live.
    pub warmup_minutes: u32,
    /// Probability per tick of a price jump.
    pub jump_probability: f64,
    /// The instruments.
    pub symbols: Vec<SymbolSpec>,
}

fn spec(symbol: &str, price: f64, drift: f64, volatility: f64, mean_size: f64) -> SymbolSpec {
    SymbolSpec {
        symbol: symbol.into(),
        price,
        drift,
        volatility,
        mean_size,
    }
}

impl SimulatorConfig {
    /// Checks values that parse but make no sense; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(self.speed) || !positive(self.tick_interval_secs) {
            return Err(
                "market.simulator.speed and market.simulator.tick_interval_secs must be positive"
                    .into(),
            );
        }
        Ok(())
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            seed: 42,
            tick_interval_secs: 1.0,
            speed: 10.0,
            warmup_minutes: 90,
            jump_probability: 0.0005,
            symbols: vec![
                spec("AAPL", 190.0, 0.10, 0.25, 120.0),
                spec("MSFT", 410.0, 0.09, 0.22, 80.0),
                spec("NVDA", 120.0, 0.25, 0.50, 300.0),
                spec("AMZN", 180.0, 0.10, 0.30, 100.0),
                spec("GOOGL", 165.0, 0.08, 0.28, 90.0),
                spec("TSLA", 240.0, 0.05, 0.60, 250.0),
                spec("JPM", 200.0, 0.06, 0.20, 70.0),
                spec("BTC-USD", 65000.0, 0.30, 0.70, 0.5),
            ],
        }
    }
}

/// The random walk of one symbol.
#[derive(Debug)]
struct Walk {
    spec: SymbolSpec,
    price: f64,
    rng: ChaCha8Rng,
    size: LogNormal<f64>,
}

impl Walk {
    fn new(spec: &SymbolSpec, seed: u64, index: u64) -> Self {
        // sigma 0.8 gives the heavy right tail of real trade sizes; mu puts the mean at mean_size.
        let sigma = 0.8;
        let mu = spec.mean_size.max(1e-9).ln() - sigma * sigma / 2.0;
        Self {
            spec: spec.clone(),
            price: spec.price,
            rng: ChaCha8Rng::seed_from_u64(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index),
            ),
            size: LogNormal::new(mu, sigma).expect("sigma is positive"),
        }
    }

    fn step(&mut self, ts: DateTime<Utc>, dt_secs: f64, jump_probability: f64) -> Tick {
        let dt = dt_secs / TRADING_SECONDS_PER_YEAR;
        let sigma = self.spec.volatility;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let mut log_return = (self.spec.drift - sigma * sigma / 2.0) * dt + sigma * dt.sqrt() * z;
        let jumped = self.rng.random_bool(jump_probability.clamp(0.0, 1.0));
        if jumped {
            // A news jump: 15 to 40 tick-sigmas, either way.
            let magnitude = self.rng.random_range(15.0..40.0) * sigma * dt.sqrt();
            log_return += if self.rng.random_bool(0.5) {
                magnitude
            } else {
                -magnitude
            };
        }
        self.price *= log_return.exp();
        let intraday = intraday_volume_factor(ts);
        let mut size = self.size.sample(&mut self.rng) * intraday;
        if jumped || self.rng.random_bool(0.001) {
            size *= self.rng.random_range(8.0..20.0);
        }
        // Round lots for equities, fractions for crypto.
        let size = if self.spec.mean_size >= 10.0 {
            size.round().max(1.0)
        } else {
            size
        };
        let half_spread = self.price * (0.0001 + sigma * dt.sqrt() * 0.5);
        Tick {
            symbol: self.spec.symbol.clone(),
            price: round_price(self.price),
            size,
            bid: round_price(self.price - half_spread),
            ask: round_price(self.price + half_spread),
            ts,
        }
    }
}

fn round_price(price: f64) -> f64 {
    (price * 10_000.0).round() / 10_000.0
}

/// Volume multiplier across a 24-hour market day: a U shape over the 14:30–21:00 UTC session
/// (3× at the open and close, 1× at midday) and 0.3× outside it.
pub fn intraday_volume_factor(ts: DateTime<Utc>) -> f64 {
    let minutes = f64::from(ts.hour() * 60 + ts.minute());
    let (open, close) = (14.5 * 60.0, 21.0 * 60.0);
    if !(open..close).contains(&minutes) {
        return 0.3;
    }
    let x = (minutes - open) / (close - open) * 2.0 - 1.0;
    1.0 + 2.0 * x * x
}

/// The simulator task.
#[derive(Debug)]
pub struct Simulator {
    config: SimulatorConfig,
    walks: Vec<Walk>,
    /// Market time of the newest trade already stored (see [`Simulator::resume_from`]).
    resume_after: Option<DateTime<Utc>>,
}

impl Simulator {
    /// A simulator for `config`.
    pub fn new(config: SimulatorConfig) -> Self {
        let walks = config
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| Walk::new(s, config.seed, i as u64))
            .collect();
        Self {
            config,
            walks,
            resume_after: None,
        }
    }

    /// Continues the market that `quotes` (the stored latest quotes) left: each simulated
    /// symbol goes on from its last price, and market time from just after the newest trade
    /// when that is later than the warm-up's start. Without this, a restart after running
    /// faster than the clock (`speed` above 1) would write ticks older than the stored candles,
    /// which the processor drops as late, and prices would jump back to their configured start.
    pub fn resume_from(mut self, quotes: &[Quote]) -> Self {
        for walk in &mut self.walks {
            if let Some(quote) = quotes.iter().find(|q| q.symbol == walk.spec.symbol)
                && quote.price.is_finite()
                && quote.price > 0.0
            {
                walk.price = quote.price;
            }
        }
        self.resume_after = quotes.iter().map(|q| q.ts).max();
        self
    }

    /// The next round of ticks (one per symbol) at market time `ts`.
    fn round(&mut self, ts: DateTime<Utc>) -> Vec<Tick> {
        let dt = self.config.tick_interval_secs;
        let jump = self.config.jump_probability;
        self.walks
            .iter_mut()
            .map(|w| w.step(ts, dt, jump))
            .collect()
    }

    /// Where market time starts: the warm-up's start, or just after the stored market when
    /// that is later (a restart after running ahead of the clock skips the warm-up).
    fn first_market_time(&self, now: DateTime<Utc>, interval: chrono::Duration) -> DateTime<Utc> {
        let warmup_start = now - chrono::Duration::minutes(i64::from(self.config.warmup_minutes));
        match self.resume_after {
            Some(newest) if newest + interval > warmup_start => newest + interval,
            _ => warmup_start,
        }
    }

    /// Writes the warm-up history, then ticks live until `shutdown`.
    pub async fn run(
        mut self,
        log: &dyn EventLog,
        metrics: &StreamMetrics,
        shutdown: CancellationToken,
    ) -> Result<(), StreamError> {
        let interval = chrono::Duration::milliseconds(
            (self.config.tick_interval_secs.max(0.001) * 1000.0) as i64,
        );
        let now = Utc::now();
        let mut market_time = self.first_market_time(now, interval);
        let mut warm = 0usize;
        while market_time < now {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            for tick in self.round(market_time) {
                publish_tick(log, metrics, &tick).await?;
                warm += 1;
            }
            market_time += interval;
        }
        info!(
            ticks = warm,
            symbols = self.walks.len(),
            "simulator warm-up written, going live"
        );
        // Live, symbols tick in turn, spread evenly over the interval, as trades of different
        // instruments do not arrive in lockstep: each still ticks once per interval.
        if self.walks.is_empty() {
            shutdown.cancelled().await;
            return Ok(());
        }
        let symbols = self.walks.len();
        let wall = Duration::from_secs_f64(
            self.config.tick_interval_secs.max(0.001)
                / self.config.speed.max(0.001)
                / symbols as f64,
        );
        let step = interval / symbols as i32;
        let (dt, jump) = (self.config.tick_interval_secs, self.config.jump_probability);
        let mut pace = tokio::time::interval(wall);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = pace.tick() => {}
            }
            let tick = self.walks[next].step(market_time, dt, jump);
            publish_tick(log, metrics, &tick).await?;
            market_time += step;
            next = (next + 1) % symbols;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn series(seed: u64, n: usize) -> Vec<f64> {
        let config = SimulatorConfig {
            seed,
            jump_probability: 0.0,
            ..SimulatorConfig::default()
        };
        let mut sim = Simulator::new(config);
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        (0..n)
            .map(|i| sim.round(start + chrono::Duration::seconds(i as i64))[0].price)
            .collect()
    }

    #[test]
    fn a_seed_replays_the_same_market() {
        assert_eq!(series(7, 200), series(7, 200));
        assert_ne!(series(7, 200), series(8, 200));
    }

    #[test]
    fn realised_volatility_matches_the_spec() {
        // AAPL: 25% a year. Estimate it back from 1-second log returns of a long path.
        let prices = series(3, 200_000);
        let returns: Vec<f64> = prices.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        let var =
            returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
        let annual = (var * TRADING_SECONDS_PER_YEAR).sqrt();
        assert!(
            (annual - 0.25).abs() < 0.02,
            "annualised volatility {annual}"
        );
    }

    #[test]
    fn a_restart_continues_the_stored_market() {
        let config = SimulatorConfig {
            jump_probability: 0.0,
            warmup_minutes: 30,
            ..SimulatorConfig::default()
        };
        let first = config.symbols[0].symbol.clone();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        let second = chrono::Duration::seconds(1);
        let quote = |ts| Quote {
            symbol: first.clone(),
            price: 500.0,
            bid: 499.9,
            ask: 500.1,
            volume: 1.0,
            day_open: 490.0,
            ts,
        };
        // Nothing stored: the warm-up's start.
        let fresh = Simulator::new(config.clone());
        assert_eq!(
            fresh.first_market_time(now, second),
            now - chrono::Duration::minutes(30)
        );
        // Stored market ran ahead of the clock: carry on after it, at its prices.
        let ahead = now + chrono::Duration::hours(2);
        let mut resumed = Simulator::new(config.clone()).resume_from(&[quote(ahead)]);
        assert_eq!(resumed.first_market_time(now, second), ahead + second);
        let next = resumed.round(ahead + second)[0].price;
        assert!(
            (next / 500.0 - 1.0).abs() < 0.01,
            "went on from 500 to {next}"
        );
        // Stored market older than the warm-up: the warm-up as usual.
        let old = now - chrono::Duration::days(3);
        let stale = Simulator::new(config).resume_from(&[quote(old)]);
        assert_eq!(
            stale.first_market_time(now, second),
            now - chrono::Duration::minutes(30)
        );
    }

    #[test]
    fn volume_is_u_shaped_over_the_session() {
        let at = |h, m| intraday_volume_factor(Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap());
        assert!(at(14, 31) > at(17, 45));
        assert!(at(20, 59) > at(17, 45));
        assert!(at(3, 0) < at(17, 45));
    }
}
