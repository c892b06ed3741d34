//! Starting the support desk in a process: its topics, its knowledge base, its processor.
//!
//! Every role that serves clients or runs processors opens the desk (a gateway checks access
//! and appends messages; a worker answers them). Only a role running processors seeds the
//! shipped FAQ and the demo customers' account facts, indexes the knowledge base for the
//! responder and answers messages.

use std::sync::Arc;

use anyhow::Context;
use finpulse_bus::runtime::Registry;
use finpulse_bus::{EventLog, FanOut};
use finpulse_inference::Inference;
use finpulse_store::Repositories;
use finpulse_support::SupportDesk;
use finpulse_support::responder::ResponderConfig;
use finpulse_support::retrieval::DenseModel;
use finpulse_support::tickets::{TicketMetrics, TicketPolicy, Tickets, TriageModels};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;

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

/// Creates the desk and its topics (when the desk is enabled), retrieving with `models`.
pub async fn open(
    config: &Config,
    store: &Repositories,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    models: Option<&Inference>,
    registry: &prometheus::Registry,
) -> anyhow::Result<Option<Arc<SupportDesk>>> {
    let settings = &config.support;
    if !settings.enabled {
        info!("support desk disabled");
        return Ok(None);
    }
    finpulse_support::processor::ensure_support_topics(log.as_ref(), config.log.partitions)
        .await
        .context("failed to create the support desk's topics")?;
    let mut dense = Vec::new();
    if let Some(models) = models {
        for name in &settings.models {
            match models.embedder(Some(name)) {
                Ok(embedder) => dense.push(DenseModel::new(Arc::new(embedder))),
                Err(error) => warn!(model = %name, %error, "support retrieval skips a model"),
            }
        }
    }
    let metrics = finpulse_support::SupportMetrics::register(registry)
        .context("failed to register the support desk's metrics")?;
    settings
        .tickets
        .validate()
        .map_err(|message| anyhow::anyhow!(message))?;
    let ticket_metrics = TicketMetrics::unregistered();
    ticket_metrics
        .register(registry)
        .context("failed to register the tickets' metrics")?;
    let tickets = Arc::new(Tickets::new(
        store.tickets.clone(),
        log.clone(),
        fanout.clone(),
        settings.tickets.clone(),
        ticket_metrics,
    ));
    Ok(Some(Arc::new(SupportDesk::new(
        store.support.clone(),
        log,
        fanout,
        dense,
        settings.responder.clone(),
        metrics,
        tickets,
    ))))
}

/// Where processors run: seeds, indexes in the background (messages wait for the first
/// index) and registers the processor.
pub async fn start(
    config: &Config,
    desk: &Arc<SupportDesk>,
    registry: &mut Registry,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    if !config.role.runs_processors() {
        return Ok(());
    }
    for agent in &config.support.agents {
        desk.note_agent(agent)
            .await
            .with_context(|| format!("failed to record support agent `{agent}`"))?;
    }
    if config.support.seed_demo {
        let customers: Vec<&str> = config
            .support
            .demo_customers
            .iter()
            .map(String::as_str)
            .collect();
        let seeded = desk
            .seed_demo(&customers)
            .await
            .context("failed to seed the support desk")?;
        if seeded > 0 {
            info!(entries = seeded, "shipped FAQ stored");
        }
    }
    let indexing = desk.clone();
    let triage = config.support.triage && config.inference.enabled;
    // The models folder's cache (git-ignored, like the models): triage heads, FAQ vectors.
    let triage_cache = finpulse_inference::Manifest::load(&config.inference.manifest)
        .ok()
        .map(|manifest| manifest.resolve(std::path::Path::new("cache")));
    // Edits of the knowledge base, announced by whichever replica took them: subscribed
    // before the first index is built, so none made meanwhile is missed.
    let follow = desk.clone().run_knowledge_follow(shutdown.clone());
    tasks.spawn(async move {
        follow.await;
        Ok(())
    });
    let vectors_cache = triage_cache.clone();
    tasks.spawn(async move {
        // The passages' vectors of the last start, so this one embeds only what changed.
        if let Some(dir) = &vectors_cache {
            for model in indexing.models() {
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
        let responder = indexing
            .reindex()
            .await
            .context("failed to index the FAQ for the support desk")?;
        if let Some(dir) = &vectors_cache {
            for model in indexing.models() {
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
        // Triage after the FAQ: answering customers comes first at start-up.
        let tickets = indexing.tickets();
        let primary = indexing.models().first().cloned();
        match primary {
            Some(model) if triage => {
                match TriageModels::load_or_train(
                    model,
                    finpulse_support::tickets::LABELLED_TICKETS,
                    &TriageModels::train_config(),
                    triage_cache.as_deref(),
                )
                .await
                {
                    Ok(models) => {
                        let triaged = tickets
                            .set_triage(models)
                            .await
                            .context("failed to triage the tickets opened at start-up")?;
                        info!(triaged, "ticket triage ready");
                    }
                    Err(error) => {
                        warn!(%error, "no ticket triage: tickets need triage by a person")
                    }
                }
            }
            _ => info!("no ticket triage (no embedding model): tickets need triage by a person"),
        }
        Ok(())
    });
    tasks.spawn(desk.tickets().clone().watch(shutdown.clone()).map(Ok));
    finpulse_support::processor::register(registry, desk.clone()).await?;
    Ok(())
}
