//! What a domain (market, recommend, support, and the ones to come) is to the process that
//! runs it, in the shape of apollographql/router's plugins: a domain crate implements
//! [`Domain`] once, and the gateway lists it once.
//!
//! - Its **settings** ([`Domain::Settings`]) are one section of the configuration tree,
//!   `deny_unknown_fields`, checked by the domain itself ([`Settings::validate`]); the gateway's
//!   configuration holds the section by its type and knows none of its fields.
//! - It **opens** ([`Domain::open`]) on the [`Backends`] it is handed (store, event log,
//!   fan-out, models, metrics registry, this process's [`Role`]), creating its topics, and
//!   returns the service its API calls.
//! - It **starts** ([`Domain::start`]) what this role runs: processors go to the bus registry,
//!   background jobs (seeding, retraining schedules, watchers, re-indexing) to [`Jobs`].
//! - It **shuts down** through the same [`Jobs`]: every job is handed the process's shutdown
//!   token and is awaited after it is cancelled; processors finish their batch and commit. A
//!   job that fails takes the process down rather than leaving it half-working.
//!
//! Anything a domain decides (what to seed, when to retrain, which model triages) lives in its
//! crate; the gateway only decides which backends exist.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use finpulse_bus::runtime::Registry;
use finpulse_bus::{EventLog, FanOut, StreamMetrics};
use finpulse_core::redis_tls::RedisTls;
use finpulse_inference::Inference;
use finpulse_store::Repositories;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// One domain's section of the configuration (`[recommend]`, `[support]`).
pub trait Settings:
    Default + Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Whether the domain runs at all in this deployment.
    fn enabled(&self) -> bool {
        true
    }

    /// Checks values the types cannot (ranges, orderings); the message names the key.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// What this process does, as far as a domain needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// This process serves the API (GraphQL, sockets).
    pub serves_clients: bool,
    /// This process runs processors, simulators and schedules (the workers' job).
    pub runs_processors: bool,
}

/// Where a Redis is, for what a domain keeps there (online features).
#[derive(Debug, Clone)]
pub struct RedisEndpoint {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// TLS files for `rediss://`.
    pub tls: RedisTls,
}

/// The backends a domain opens on; the gateway chose and opened them.
#[derive(Clone)]
pub struct Backends {
    /// The repositories.
    pub store: Repositories,
    /// The event log (Kafka or in-process).
    pub log: Arc<dyn EventLog>,
    /// Partitions a topic is created with.
    pub partitions: i32,
    /// Where results fan out to the API replicas.
    pub fanout: Arc<dyn FanOut>,
    /// The event pipeline's metrics (sources count what they publish).
    pub stream_metrics: StreamMetrics,
    /// The models loaded in this process, when it runs them.
    pub models: Option<Inference>,
    /// The model manifest, when models are set up for this deployment (a process that does
    /// not load them may still read their cache folder or run the ranker).
    pub model_manifest: Option<PathBuf>,
    /// The Redis every replica shares, when there is one.
    pub redis: Option<RedisEndpoint>,
    /// Where the domain's Prometheus metrics are registered.
    pub metrics: prometheus::Registry,
    /// What this process does.
    pub role: Role,
}

/// Where a starting domain puts its processors and background jobs.
pub struct Jobs<'a> {
    registry: &'a mut Registry,
    tasks: &'a mut JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
}

impl<'a> Jobs<'a> {
    /// Processors go to `registry`, jobs to `tasks`; both stop when `shutdown` is cancelled.
    pub fn new(
        registry: &'a mut Registry,
        tasks: &'a mut JoinSet<anyhow::Result<()>>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            registry,
            tasks,
            shutdown,
        }
    }

    /// The processor registry of this process.
    pub fn registry(&mut self) -> &mut Registry {
        self.registry
    }

    /// The process's shutdown signal, for a job to stop on.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs `job` until it returns; it must return soon after the shutdown token is cancelled
    /// (the process awaits it), and an error stops the process.
    pub fn spawn(&mut self, job: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.tasks.spawn(job);
    }

    /// Runs `job` with the shutdown token until it returns; for jobs that cannot fail.
    pub fn spawn_until_shutdown<F>(&mut self, job: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let running = job(self.shutdown.clone());
        self.tasks.spawn(async move {
            running.await;
            Ok(())
        });
    }
}

/// A domain, as the gateway runs it.
// The gateway calls these with concrete types only (never `dyn`), so the futures' `Send`
// bounds are checked where they are spawned.
#[allow(async_fn_in_trait)]
pub trait Domain: Send + Sync + Sized + 'static {
    /// Its section's name in the configuration, and in logs.
    const NAME: &'static str;

    /// Its section of the configuration.
    type Settings: Settings;

    /// Creates its topics and the service its API calls, on `backends`.
    async fn open(settings: &Self::Settings, backends: &Backends) -> anyhow::Result<Arc<Self>>;

    /// Starts what `backends.role` runs: processors, simulators, schedules.
    async fn start(
        self: &Arc<Self>,
        settings: &Self::Settings,
        backends: &Backends,
        jobs: &mut Jobs<'_>,
    ) -> anyhow::Result<()>;
}

/// Opens `D` when its settings enable it; `None` (logged) when they do not.
pub async fn open<D: Domain>(
    settings: &D::Settings,
    backends: &Backends,
) -> anyhow::Result<Option<Arc<D>>> {
    use anyhow::Context;
    if !settings.enabled() {
        info!(domain = D::NAME, "disabled");
        return Ok(None);
    }
    settings
        .validate()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("invalid [{}] settings", D::NAME))?;
    D::open(settings, backends)
        .await
        .with_context(|| format!("failed to open the {} domain", D::NAME))
        .map(Some)
}

/// Starts `domain` when it was opened.
pub async fn start<D: Domain>(
    domain: Option<&Arc<D>>,
    settings: &D::Settings,
    backends: &Backends,
    jobs: &mut Jobs<'_>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    match domain {
        Some(domain) => domain
            .start(settings, backends, jobs)
            .await
            .with_context(|| format!("failed to start the {} domain", D::NAME)),
        None => Ok(()),
    }
}
