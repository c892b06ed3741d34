//! The support desk as the gateway runs it ([`finpulse_domain::Domain`]): its `[support]`
//! settings, its topics, knowledge base and processor.
//!
//! Every role that serves clients or runs processors opens the desk (a gateway checks access
//! and appends messages; a worker answers them). Only a role running processors records the
//! configured agents, seeds the shipped FAQ and the demo customers' account facts, indexes the
//! knowledge base for the responder, trains or loads ticket triage, watches the SLAs and
//! answers messages. At start-up answering customers comes first: the FAQ is indexed (from the
//! vectors cached by the last start where it can) before triage is trained.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use finpulse_domain::{Backends, Domain, Jobs};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::responder::ResponderConfig;
use crate::retrieval::DenseModel;
use crate::tickets::{TicketMetrics, TicketPolicy, Tickets, TriageModels};
use crate::{SupportDesk, SupportMetrics};

/// `[support]`: the support desk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportSettings {
    /// Run the support desk (its API, and its processor on workers).
    pub enabled: bool,
    /// Embedding models retrieval uses when models are on, the primary first; a name the
    /// manifest lacks is skipped with a warning. None loaded: lexical retrieval only.
    pub models: Vec<String>,
    /// Store the shipped FAQ when the store has none, and demo account facts for these users.
    pub seed_demo: bool,
    /// The users demo account facts are stored for (the names the README's examples use).
    pub demo_customers: Vec<String>,
    /// Agents conversations may be transferred to before they have worked the desk
    /// themselves (an agent is recorded whenever they read or change a conversation).
    pub agents: Vec<String>,
    /// How the responder decides (`[support.responder]`).
    pub responder: ResponderConfig,
    /// Ticket triage and SLA rules (`[support.tickets]`).
    pub tickets: TicketPolicy,
    /// Train the ticket triage models (category and sentiment heads on the primary model) at
    /// start-up, or read them from the models folder's cache. Off: tickets need triage.
    pub triage: bool,
}

impl Default for SupportSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            models: vec!["multilingual-e5-small".into(), "minilm-l6-v2".into()],
            seed_demo: true,
            demo_customers: ["alice", "bob", "carol", "dave", "erin", "demo"]
                .map(String::from)
                .to_vec(),
            agents: Vec::new(),
            responder: ResponderConfig::default(),
            tickets: TicketPolicy::default(),
            triage: true,
        }
    }
}

impl finpulse_domain::Settings for SupportSettings {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        self.tickets.validate()
    }
}

impl Domain for SupportDesk {
    const NAME: &'static str = "support";
    type Settings = SupportSettings;

    /// Creates the desk and its topics, retrieving with the configured models this process
    /// has loaded.
    async fn open(settings: &SupportSettings, backends: &Backends) -> anyhow::Result<Arc<Self>> {
        crate::processor::ensure_support_topics(backends.log.as_ref(), backends.partitions)
            .await
            .context("failed to create the support desk's topics")?;
        let mut dense = Vec::new();
        if let Some(models) = &backends.models {
            for name in &settings.models {
                match models.embedder(Some(name)) {
                    Ok(embedder) => dense.push(DenseModel::new(Arc::new(embedder))),
                    Err(error) => warn!(model = %name, %error, "support retrieval skips a model"),
                }
            }
        }
        let metrics = SupportMetrics::register(&backends.metrics)
            .context("failed to register the support desk's metrics")?;
        let ticket_metrics = TicketMetrics::unregistered();
        ticket_metrics
            .register(&backends.metrics)
            .context("failed to register the tickets' metrics")?;
        let tickets = Arc::new(Tickets::new(
            backends.store.tickets.clone(),
            backends.log.clone(),
            backends.fanout.clone(),
            settings.tickets.clone(),
            ticket_metrics,
        ));
        Ok(Arc::new(SupportDesk::new(
            backends.store.support.clone(),
            backends.log.clone(),
            backends.fanout.clone(),
            dense,
            settings.responder.clone(),
            metrics,
            tickets,
        )))
    }

    /// Where processors run: seeds, indexes in the background (messages wait for the first
    /// index), then triage; the SLA watcher, the knowledge base's follower and the processor.
    async fn start(
        self: &Arc<Self>,
        settings: &SupportSettings,
        backends: &Backends,
        jobs: &mut Jobs<'_>,
    ) -> anyhow::Result<()> {
        if !backends.role.runs_processors {
            return Ok(());
        }
        for agent in &settings.agents {
            self.note_agent(agent)
                .await
                .with_context(|| format!("failed to record support agent `{agent}`"))?;
        }
        if settings.seed_demo {
            let customers: Vec<&str> = settings.demo_customers.iter().map(String::as_str).collect();
            let seeded = self
                .seed_demo(&customers)
                .await
                .context("failed to seed the support desk")?;
            if seeded > 0 {
                info!(entries = seeded, "shipped FAQ stored");
            }
        }
        // The models folder's cache (git-ignored, like the models): triage heads, FAQ vectors.
        let cache = backends.model_manifest.as_deref().and_then(cache_dir);
        let triage = settings.triage && backends.model_manifest.is_some();
        // Edits of the knowledge base, announced by whichever replica took them: subscribed
        // before the first index is built, so none made meanwhile is missed.
        let follow = self.clone().run_knowledge_follow(jobs.shutdown());
        jobs.spawn(follow.map(Ok));
        jobs.spawn(index_then_triage(self.clone(), cache, triage));
        jobs.spawn(self.tickets().clone().watch(jobs.shutdown()).map(Ok));
        crate::processor::register(jobs.registry(), self.clone()).await?;
        Ok(())
    }
}

/// The cache folder beside the models of `manifest`, when the manifest reads.
fn cache_dir(manifest: &Path) -> Option<PathBuf> {
    finpulse_inference::Manifest::load(manifest)
        .ok()
        .map(|manifest| manifest.resolve(Path::new("cache")))
}

/// Indexes the knowledge base (embedding only what the cached vectors of the last start lack),
/// then trains or loads ticket triage on the primary model: answering comes first.
async fn index_then_triage(
    desk: Arc<SupportDesk>,
    cache: Option<PathBuf>,
    triage: bool,
) -> anyhow::Result<()> {
    if let Some(dir) = &cache {
        for model in desk.models() {
            let path = dir.join(model.memory_file_name());
            match model.load_memory(&path) {
                Ok(count) => info!(
                    model = model.name(),
                    count, "FAQ vectors read from the cache"
                ),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    warn!(%error, path = %path.display(), "ignoring the cached FAQ vectors")
                }
            }
        }
    }
    let responder = desk
        .reindex()
        .await
        .context("failed to index the FAQ for the support desk")?;
    if let Some(dir) = &cache {
        for model in desk.models() {
            let path = dir.join(model.memory_file_name());
            if let Err(error) = model.save_memory(&path) {
                warn!(%error, path = %path.display(), "failed to cache the FAQ vectors");
            }
        }
    }
    let thresholds = responder.thresholds();
    info!(
        entries = responder.index().entries().len(),
        models = ?responder.index().model_names(),
        fusion = ?responder.index().fusion(),
        answer_threshold = thresholds.answer,
        margin = thresholds.margin,
        calibrated_on = thresholds.calibrated_on,
        held_out_precision = thresholds.precision,
        held_out_coverage = thresholds.coverage,
        "support desk ready"
    );
    let primary = desk.models().first().cloned();
    let Some(model) = primary.filter(|_| triage) else {
        info!("no ticket triage (no embedding model): tickets need triage by a person");
        return Ok(());
    };
    match TriageModels::load_or_train(
        model,
        crate::tickets::LABELLED_TICKETS,
        &TriageModels::train_config(),
        cache.as_deref(),
    )
    .await
    {
        Ok(models) => {
            let triaged = desk
                .tickets()
                .set_triage(models)
                .await
                .context("failed to triage the tickets opened at start-up")?;
            info!(triaged, "ticket triage ready");
        }
        Err(error) => warn!(%error, "no ticket triage: tickets need triage by a person"),
    }
    Ok(())
}
