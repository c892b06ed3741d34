//! The domains this process runs, listed once. Each domain crate owns its settings, start-up,
//! processors and jobs ([`finpulse_domain::Domain`]); what is decided here is only which
//! backends exist ([`backends`]) and that the API serves what the domains opened.

use std::sync::Arc;

use finpulse_bus::{EventLog, FanOut, StreamMetrics};
use finpulse_domain::{Backends, Jobs, RedisEndpoint};
use finpulse_graph::GraphContext;
use finpulse_inference::Inference;
use finpulse_market::domain::{Market, MarketSource};
use finpulse_recommend::service::RecommendService;
use finpulse_store::Repositories;
use finpulse_support::SupportDesk;

use crate::config::Config;

/// What the domains are handed: the backends the gateway opened for `config`, the models
/// this process loaded, its metrics registry.
pub fn backends(
    config: &Config,
    store: Repositories,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    stream_metrics: StreamMetrics,
    models: Option<Inference>,
    metrics: prometheus::Registry,
) -> anyhow::Result<Backends> {
    let redis = match &config.redis_url {
        Some(url) => Some(RedisEndpoint {
            url: url.clone(),
            tls: config.redis_tls.load()?,
        }),
        None => None,
    };
    Ok(Backends {
        store,
        log,
        partitions: config.log.partitions,
        fanout,
        stream_metrics,
        models,
        model_manifest: config
            .inference
            .enabled
            .then(|| config.inference.manifest.clone()),
        redis,
        metrics,
        role: finpulse_domain::Role {
            serves_clients: config.role.serves_clients(),
            runs_processors: config.role.runs_processors(),
        },
    })
}

/// The domains opened in this process (a disabled one is `None`).
pub struct Domains {
    /// The market.
    pub market: Option<Arc<Market>>,
    /// The recommender.
    pub recommend: Option<Arc<RecommendService>>,
    /// The support desk.
    pub support: Option<Arc<SupportDesk>>,
}

impl Domains {
    /// Opens every domain `config` enables on `backends`; the market is fed from `source`
    /// where processors run.
    pub async fn open(
        config: &Config,
        backends: &Backends,
        source: MarketSource,
    ) -> anyhow::Result<Self> {
        let market = finpulse_domain::open::<Market>(&config.market, backends).await?;
        if let Some(market) = &market {
            market.feed_from(source);
        }
        Ok(Self {
            market,
            recommend: finpulse_domain::open(&config.recommend, backends).await?,
            support: finpulse_domain::open(&config.support, backends).await?,
        })
    }

    /// The API's context, serving what was opened.
    pub fn serve(&self, mut graph: GraphContext) -> GraphContext {
        if let Some(service) = &self.recommend {
            graph = graph.with_recommender(service.clone());
        }
        if let Some(desk) = &self.support {
            graph = graph.with_support(desk.clone());
        }
        graph
    }

    /// Starts what each opened domain runs in this role.
    pub async fn start(
        &self,
        config: &Config,
        backends: &Backends,
        jobs: &mut Jobs<'_>,
    ) -> anyhow::Result<()> {
        finpulse_domain::start(self.market.as_ref(), &config.market, backends, jobs).await?;
        finpulse_domain::start(self.recommend.as_ref(), &config.recommend, backends, jobs).await?;
        finpulse_domain::start(self.support.as_ref(), &config.support, backends, jobs).await?;
        Ok(())
    }
}

/// The recommender alone, over `config`'s store, for offline commands: nothing it does is
/// published (an in-process log and fan-out nobody listens to), and it embeds item
/// descriptions with `models` when given.
pub async fn offline_recommender(
    config: &Config,
    models: Option<Inference>,
) -> anyhow::Result<Arc<RecommendService>> {
    use anyhow::Context;
    let store = Repositories::of(crate::backends::open_store(config).await?);
    let backends = backends(
        config,
        store,
        Arc::new(finpulse_bus::MemoryLog::default()),
        Arc::new(finpulse_bus::LocalFanOut::default()),
        StreamMetrics::unregistered(),
        models,
        prometheus::Registry::new(),
    )?;
    finpulse_domain::open::<RecommendService>(&config.recommend, &backends)
        .await?
        .context("the recommender is disabled (recommend.enabled = false)")
}
