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
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
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
    /// How the responder decides (`[support.responder]`).
    pub responder: ResponderConfig,
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
            responder: ResponderConfig::default(),
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
    Ok(Some(Arc::new(SupportDesk::new(
        store.support.clone(),
        log,
        fanout,
        dense,
        settings.responder.clone(),
        metrics,
    ))))
}

/// Where processors run: seeds, indexes in the background (messages wait for the first
/// index) and registers the processor.
pub async fn start(
    config: &Config,
    desk: &Arc<SupportDesk>,
    registry: &mut Registry,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    if !config.role.runs_processors() {
        return Ok(());
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
    tasks.spawn(async move {
        let responder = indexing
            .reindex()
            .await
            .context("failed to index the FAQ for the support desk")?;
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
        Ok(())
    });
    finpulse_support::processor::register(registry, desk.clone()).await?;
    Ok(())
}
