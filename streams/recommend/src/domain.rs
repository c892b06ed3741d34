//! The recommender as the gateway runs it ([`finpulse_domain::Domain`]): its `[recommend]`
//! settings, its topics and online feature store, its first model, processor, behaviour
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
use finpulse_domain::{Backends, Domain, Jobs};
use finpulse_store::{MemoryOnlineFeatures, OnlineFeatures, RedisOnlineFeatures};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::service::{RecommendConfig, RecommendService, RecommendStores};
use crate::simulator::{BehaviourConfig, BehaviourSimulator, demo_experiment};

/// The recommender's settings: `[recommend]` (on or off, the online features' prefix),
/// `[recommend.service]` (model, weights, rules, retraining) and `[recommend.simulator]` (the
/// user-behaviour simulator).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendSettings {
    /// Run the recommender (its API, its processor on workers, training).
    pub enabled: bool,
    /// The model, weights, rules and retraining period (`[recommend.service]`).
    pub service: RecommendConfig,
    /// The user-behaviour simulator (on in the embedded default).
    pub simulator: BehaviourConfig,
    /// Put before every key of the online feature store in Redis.
    pub online_features_prefix: String,
}

impl Default for RecommendSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            service: RecommendConfig::default(),
            simulator: BehaviourConfig::default(),
            online_features_prefix: "finpulse:features:".into(),
        }
    }
}

impl finpulse_domain::Settings for RecommendSettings {
    fn enabled(&self) -> bool {
        self.enabled
    }
}

impl Domain for RecommendService {
    const NAME: &'static str = "recommend";
    type Settings = RecommendSettings;

    async fn open(settings: &RecommendSettings, backends: &Backends) -> anyhow::Result<Arc<Self>> {
        crate::processor::ensure_recommend_topics(backends.log.as_ref(), backends.partitions)
            .await
            .context("failed to create the recommender's topics")?;
        // Online features where every replica reads them: Redis when there is one.
        let online_features: Arc<dyn OnlineFeatures> = match &backends.redis {
            Some(redis) => Arc::new(
                RedisOnlineFeatures::connect(
                    &redis.url,
                    &redis.tls,
                    settings.online_features_prefix.clone(),
                )
                .await
                .context("failed to connect the online feature store to Redis")?,
            ),
            None => Arc::new(MemoryOnlineFeatures::default()),
        };
        let store = &backends.store;
        let stores = RecommendStores {
            data: store.recommend.clone(),
            experiments: store.experiments.clone(),
            features: store.features.clone(),
            online_features,
            market: store.market.clone(),
            artifacts: store.artifacts.clone(),
        };
        // Item descriptions are embedded with this process's model, if it runs one.
        let embedder: Option<Arc<dyn finpulse_inference::Embeddings>> = match &backends.models {
            Some(models) => {
                Some(Arc::new(models.embedder(None).context(
                    "failed to open the embedding model for item descriptions",
                )?))
            }
            None => None,
        };
        Ok(Arc::new(
            RecommendService::new(
                settings.service.clone(),
                stores,
                backends.log.clone(),
                backends.fanout.clone(),
            )
            // The learned ranker needs ONNX Runtime: only where models are set up.
            .with_models(backends.model_manifest.clone(), embedder),
        ))
    }

    /// Seeds (where processors run and the simulator is on), trains the first model, registers
    /// the processor and spawns the simulator and the retraining loop.
    async fn start(
        self: &Arc<Self>,
        settings: &RecommendSettings,
        backends: &Backends,
        jobs: &mut Jobs<'_>,
    ) -> anyhow::Result<()> {
        let runs_processors = backends.role.runs_processors;
        let behaviour = &settings.simulator;
        let simulator = match runs_processors && behaviour.enabled {
            true => Some(seed_simulation(self, behaviour).await?),
            false => None,
        };
        if runs_processors {
            materialize(self).await;
        }
        let every = settings.service.retrain_secs;
        first_model(self, runs_processors && every > 0, every).await;
        if simulator.is_some() && behaviour.demo_experiment {
            start_demo_experiment(self).await;
        }
        if let Err(error) = self.experiments().refresh().await {
            warn!(%error, "failed to read the running experiment; retrying on schedule");
        }
        let experiments = self.experiments().clone();
        jobs.spawn_until_shutdown(
            |shutdown| async move { experiments.run_refresh(shutdown).await },
        );
        if runs_processors {
            crate::processor::register(jobs.registry(), self.clone()).await?;
        }
        if let Some(simulator) = simulator {
            let service = self.clone();
            jobs.spawn_until_shutdown(|shutdown| simulator.run(service, shutdown));
        }
        let service = self.clone();
        jobs.spawn_until_shutdown(|shutdown| async move { service.run_follow(shutdown).await });
        if runs_processors && every > 0 {
            let service = self.clone();
            jobs.spawn_until_shutdown(|shutdown| retrain_on_schedule(service, every, shutdown));
        }
        Ok(())
    }
}

/// Seeds the demo catalogue and the simulated customers' history; the simulator that carries
/// them on.
async fn seed_simulation(
    service: &Arc<RecommendService>,
    behaviour: &BehaviourConfig,
) -> anyhow::Result<BehaviourSimulator> {
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
    let mut simulator = BehaviourSimulator::new(behaviour.clone(), items);
    let history = simulator
        .seed(service)
        .await
        .context("failed to seed simulated customers")?;
    if history > 0 {
        info!(
            interactions = history,
            "simulated interaction history stored"
        );
    }
    Ok(simulator)
}

/// Retrains every `every` seconds, unless another worker trained within half a period.
async fn retrain_on_schedule(
    service: Arc<RecommendService>,
    every: u64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(every));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
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
        Ok::<_, crate::RecommendError>(true)
    }
    .await;
    match result {
        Ok(true) => info!("demo experiment started"),
        Ok(false) => {}
        Err(error) => warn!(%error, "failed to start the demo experiment"),
    }
}
