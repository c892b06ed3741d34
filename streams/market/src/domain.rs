//! The market as the gateway runs it ([`finpulse_domain::Domain`]): its `[market]` settings
//! (the simulator, the instruments subscriptions may name), its topics, its processor and its
//! source of ticks.
//!
//! Every role opens it (a gateway needs the instruments to check live subscriptions). Only a
//! role running processors runs the market processor and a source: the simulator, resuming
//! each symbol from its latest stored quote so a restart carries the prices on, or a CSV
//! replay handed in by `finpulse replay`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use finpulse_bus::StreamMetrics;
use finpulse_domain::{Backends, Domain, Jobs};
use finpulse_store::MarketData;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::replay::{ReplayProgress, ReplaySummary, replay_csv};
use crate::simulator::{Simulator, SimulatorConfig};

/// `[market]`: the market domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketSettings {
    /// The built-in market simulator (`[market.simulator]`).
    pub simulator: SimulatorConfig,
    /// Symbols that live subscriptions may name before any market data of theirs arrived,
    /// besides the simulator's (a symbol with stored data is always known); others are refused.
    pub instruments: Vec<String>,
}

impl finpulse_domain::Settings for MarketSettings {
    fn validate(&self) -> Result<(), String> {
        self.simulator.validate()?;
        match self
            .instruments
            .iter()
            .find(|s| crate::events::check_symbol(&s.to_ascii_uppercase()).is_err())
        {
            Some(bad) => Err(format!(
                "market.instruments: `{bad}` is not a ticker symbol"
            )),
            None => Ok(()),
        }
    }
}

impl MarketSettings {
    /// The symbols live subscriptions may name without stored data: the simulator's and the
    /// configured instruments, upper-cased.
    pub fn known_symbols(&self) -> HashSet<String> {
        self.simulator
            .symbols
            .iter()
            .map(|s| s.symbol.to_ascii_uppercase())
            .chain(self.instruments.iter().map(|s| s.to_ascii_uppercase()))
            .collect()
    }
}

/// Where a worker's ticks come from.
#[derive(Clone)]
pub enum MarketSource {
    /// The built-in simulator, when enabled in the settings.
    Simulator,
    /// A CSV file of ticks.
    Replay {
        /// The file.
        path: PathBuf,
        /// Speed-up against the recorded timestamps; 0 for as fast as possible.
        speed: f64,
        /// Called after every row.
        progress: Arc<dyn Fn(ReplayProgress) + Send + Sync>,
        /// Notified when the file is done.
        done: Arc<tokio::sync::Notify>,
        /// Where the summary is left.
        summary: Arc<Mutex<Option<ReplaySummary>>>,
    },
}

/// The market domain in a process: its store and the source a worker runs.
pub struct Market {
    data: Arc<dyn MarketData>,
    metrics: StreamMetrics,
    source: Mutex<Option<MarketSource>>,
}

impl Market {
    /// Feeds the market from `source` instead of the simulator; called before it starts.
    pub fn feed_from(&self, source: MarketSource) {
        *self.source.lock() = Some(source);
    }
}

impl Domain for Market {
    const NAME: &'static str = "market";
    type Settings = MarketSettings;

    async fn open(_settings: &MarketSettings, backends: &Backends) -> anyhow::Result<Arc<Self>> {
        crate::processor::ensure_market_topics(backends.log.as_ref(), backends.partitions)
            .await
            .context("failed to create the market's topics")?;
        Ok(Arc::new(Self {
            data: backends.store.market.clone(),
            metrics: backends.stream_metrics.clone(),
            source: Mutex::new(None),
        }))
    }

    /// Where processors run: the market processor and the source.
    async fn start(
        self: &Arc<Self>,
        settings: &MarketSettings,
        backends: &Backends,
        jobs: &mut Jobs<'_>,
    ) -> anyhow::Result<()> {
        if !backends.role.runs_processors {
            info!("role gateway: the market processor and sources run in the workers");
            return Ok(());
        }
        crate::processor::register(
            jobs.registry(),
            self.data.clone(),
            backends.store.processor_states.clone(),
            backends.fanout.clone(),
        )
        .await?;
        let source = self.source.lock().take().unwrap_or(MarketSource::Simulator);
        let (log, metrics, shutdown) =
            (backends.log.clone(), self.metrics.clone(), jobs.shutdown());
        match source {
            MarketSource::Simulator if settings.simulator.enabled => {
                let simulator = Simulator::new(settings.simulator.clone());
                let market = self.data.clone();
                jobs.spawn(async move {
                    let quotes = stored_quotes(market.as_ref())
                        .await
                        .context("failed to read the stored market to resume the simulator")?;
                    simulator
                        .resume_from(&quotes)
                        .run(log.as_ref(), &metrics, shutdown)
                        .await
                        .context("market simulator failed")
                });
            }
            MarketSource::Simulator => info!("market simulator disabled"),
            MarketSource::Replay {
                path,
                speed,
                progress,
                done,
                summary,
            } => jobs.spawn(async move {
                let result = replay_csv(&path, speed, log.as_ref(), &metrics, shutdown, |p| {
                    progress(p)
                })
                .await;
                let outcome =
                    result.with_context(|| format!("replay of {} failed", path.display()));
                if let Ok(s) = &outcome {
                    *summary.lock() = Some(s.clone());
                }
                done.notify_one();
                outcome.map(|_| ())
            }),
        }
        Ok(())
    }
}

/// The latest stored quote of every symbol: where a restarted simulator carries on.
async fn stored_quotes(
    market: &dyn MarketData,
) -> Result<Vec<finpulse_core::market::Quote>, finpulse_store::StoreError> {
    let mut quotes = Vec::new();
    for symbol in market.symbols().await? {
        quotes.extend(market.quote(&symbol).await?);
    }
    Ok(quotes)
}
