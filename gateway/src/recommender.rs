//! Starting the recommender in a process: its topics, first model, processor, behaviour
//! simulator and retraining schedule.
//!
//! Every role serves the model version the store names and follows it (a gateway answers
//! `recommendations` queries with it); a replica that finds none trains the first. Only a role
//! that runs processors seeds the demo data, runs the recommend processor and the behaviour
//! simulator (and, with it, the demo experiment), materializes the feature sets and retrains
//! on the schedule, publishing each version for all. Every role keeps its view of the running
//! experiment fresh.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use finpulse_bus::runtime::Registry;
use finpulse_bus::{EventLog, FanOut};
use finpulse_recommend::service::{RecommendService, RecommendStores};
use finpulse_recommend::simulator::{BehaviourSimulator, demo_experiment};
use finpulse_store::{MemoryOnlineFeatures, OnlineFeatures, RedisOnlineFeatures, Repositories};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;

/// Creates the service and its topics (when the recommender is enabled).
pub async fn open(
    config: &Config,
    store: &Repositories,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    embedder: Option<Arc<dyn finpulse_inference::Embeddings>>,
) -> anyhow::Result<Option<Arc<RecommendService>>> {
    if !config.recommend.enabled {
        info!("recommender disabled");
        return Ok(None);
    }
    finpulse_recommend::processor::ensure_recommend_topics(log.as_ref(), config.log.partitions)
        .await
        .context("failed to create the recommender's topics")?;
    // Online features where every replica reads them: Redis when there is one.
    let online_features: Arc<dyn OnlineFeatures> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisOnlineFeatures::connect(
                url,
                &config.redis_tls.load()?,
                config.recommend.online_features_prefix.clone(),
            )
            .await
            .context("failed to connect the online feature store to Redis")?,
        ),
        None => Arc::new(MemoryOnlineFeatures::default()),
    };
    let stores = RecommendStores {
        data: store.recommend.clone(),
        experiments: store.experiments.clone(),
        features: store.features.clone(),
        online_features,
        market: store.market.clone(),
        artifacts: store.artifacts.clone(),
    };
    // The learned ranker needs ONNX Runtime: only where models are set up.
    let manifest = config
        .inference
        .enabled
        .then(|| config.inference.manifest.clone());
    Ok(Some(Arc::new(
        RecommendService::new(config.recommend.service.clone(), stores, log, fanout)
            .with_models(manifest, embedder),
    )))
}

/// Seeds (where processors run and the simulator is on), trains the first model, registers
/// the processor and spawns the simulator and the retraining loop.
pub async fn start(
    config: &Config,
    service: &Arc<RecommendService>,
    registry: &mut Registry,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let runs_processors = config.role.runs_processors();
    let behaviour = &config.recommend.simulator;
    let mut simulator = None;
    if runs_processors && behaviour.enabled {
        let seeded = service
            .seed_demo_catalogue()
            .await
            .context("failed to seed the demo catalogue")?;
        if seeded > 0 {
            info!(items = seeded, "demo catalogue stored");
        }
        let items = service
            .items(&[], None, 10_000)
            .await
            .context("failed to read the catalogue for the behaviour simulator")?;
        let mut behaviour_simulator = BehaviourSimulator::new(behaviour.clone(), items);
        let history = behaviour_simulator
            .seed(service)
            .await
            .context("failed to seed simulated customers")?;
        if history > 0 {
            info!(
                interactions = history,
                "simulated interaction history stored"
            );
        }
        simulator = Some(behaviour_simulator);
    }
    if runs_processors {
        materialize(service).await;
    }
    let every = config.recommend.service.retrain_secs;
    first_model(service, runs_processors && every > 0, every).await;
    if simulator.is_some() && behaviour.demo_experiment {
        start_demo_experiment(service).await;
    }
    if let Err(error) = service.experiments().refresh().await {
        warn!(%error, "failed to read the running experiment; retrying on schedule");
    }
    {
        let (experiments, shutdown) = (service.experiments().clone(), shutdown.clone());
        tasks.spawn(async move {
            experiments.run_refresh(shutdown).await;
            Ok(())
        });
    }
    if runs_processors {
        finpulse_recommend::processor::register(registry, service.clone()).await?;
    }
    if let Some(simulator) = simulator {
        let (service, shutdown) = (service.clone(), shutdown.clone());
        tasks.spawn(async move {
            simulator.run(service, shutdown).await;
            Ok(())
        });
    }
    {
        let (service, shutdown) = (service.clone(), shutdown.clone());
        tasks.spawn(async move {
            service.run_follow(shutdown).await;
            Ok(())
        });
    }
    if runs_processors && every > 0 {
        let (service, shutdown) = (service.clone(), shutdown.clone());
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(every));
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = ticker.tick() => {}
                }
                // Another worker that trained within half a period has taken this turn.
                match service.training_due(Duration::from_secs(every / 2)).await {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(error) => {
                        warn!(%error, "failed to read the recommender's versions; retraining anyway")
                    }
                }
                materialize(&service).await;
                if let Err(error) = service.train().await {
                    warn!(%error, "recommender retraining failed; the previous model keeps serving");
                }
            }
        });
    }
    Ok(())
}

/// The first model a replica serves: the version the store serves, unless `retrains` (a worker
/// on a schedule) finds it older than a period; a replica that finds none trains the first
/// and publishes it for the others.
async fn first_model(service: &RecommendService, retrains: bool, every: u64) {
    let due = retrains
        && service
            .training_due(Duration::from_secs(every))
            .await
            .unwrap_or(true);
    if !due {
        match service.follow().await {
            Ok(_) if service.current().is_some() => {
                info!(version = ?service.version(), "recommender model loaded from the store");
                return;
            }
            Ok(_) => {}
            Err(error) => {
                warn!(%error, "failed to load the recommender model the store serves; training one")
            }
        }
    }
    match service.train().await {
        Ok(trained) => {
            info!(version = %trained.version, items = trained.items, "first recommender model ready")
        }
        // An empty catalogue trains too; a failure here is a store problem, reported loudly
        // but not fatal: the following loop and the schedule try again.
        Err(error) => warn!(%error, "failed to train the first recommender model"),
    }
}

/// Materializes the feature sets as of now (where processors run: the workers own the
/// interactions); a failure is logged and the previous values keep serving.
async fn materialize(service: &RecommendService) {
    if let Err(error) = service.materialize_features(chrono::Utc::now()).await {
        warn!(%error, "feature materialization failed; the previous values keep serving");
    }
}

/// Creates and starts the demo experiment when the store has no experiments at all (an
/// operator's own experiments, or the demo stopped by hand, are left alone).
async fn start_demo_experiment(service: &RecommendService) {
    let experiments = service.experiments();
    let result = async {
        if !experiments.list().await?.is_empty() {
            return Ok(false);
        }
        let demo = experiments
            .create(demo_experiment(), |name| {
                service.strategies().contains_key(name)
            })
            .await?;
        experiments.start(&demo.id).await?;
        Ok::<_, finpulse_recommend::RecommendError>(true)
    }
    .await;
    match result {
        Ok(true) => info!("demo experiment started"),
        Ok(false) => {}
        Err(error) => warn!(%error, "failed to start the demo experiment"),
    }
}

/// The recommender's settings: `[recommend]` (model, weights, rules, retraining) and
/// `[recommend.simulator]` (the user-behaviour simulator).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendSettings {
    /// Run the recommender (its API, its processor on workers, training).
    pub enabled: bool,
    /// The model, weights, rules and retraining period (`[recommend.service]`).
    pub service: finpulse_recommend::service::RecommendConfig,
    /// The user-behaviour simulator (on in the embedded default).
    pub simulator: finpulse_recommend::simulator::BehaviourConfig,
    /// Put before every key of the online feature store in Redis.
    pub online_features_prefix: String,
}

impl Default for RecommendSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            service: finpulse_recommend::service::RecommendConfig::default(),
            simulator: finpulse_recommend::simulator::BehaviourConfig::default(),
            online_features_prefix: "finpulse:features:".into(),
        }
    }
}
