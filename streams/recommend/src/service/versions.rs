//! Versions: a trained model kept in the store for every replica, the version the store serves
//! followed by each, and rollback.
//!
//! The store is the one record of which version is served (`ModelArtifacts`). Training
//! publishes its model there (bytes and serving pointer in one transaction) before serving it
//! itself; every replica polls the pointer every `follow_secs` and loads a version it does not
//! hold from the stored bytes, off the async workers. A rollback moves the pointer, so it too
//! reaches every replica, and a replica that starts later serves the same version at once
//! instead of training its own.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use finpulse_core::artifact::ModelArtifact;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{KEPT_VERSIONS, RecommendService};
use crate::RecommendError;
use crate::recommender::Recommender;

/// The recommender's name among the store's trained models.
pub const MODEL_NAME: &str = "recommender";

/// What training reports of a version, kept beside its bytes (the store's `summary`, written
/// and read only here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The collaborative model (`ease` or `als`).
    pub model: String,
    /// Catalogue items it knows.
    pub items: usize,
    /// Customers with history it was trained on.
    pub users: usize,
    /// Interactions it was trained on.
    pub interactions: usize,
    /// The learned ranker it carries (`onnx:ranker.onnx`), if any.
    pub ranker: Option<String>,
    /// The snapshot format its bytes are written in.
    pub format: u32,
}

/// One version kept in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptVersion {
    /// The version.
    pub version: String,
    /// When it was trained.
    pub trained_at: DateTime<Utc>,
    /// The size of its bytes.
    pub size_bytes: u64,
    /// What training reported; `None` when the stored summary does not read as one (a
    /// version written by another release).
    pub summary: Option<ModelSummary>,
}

impl From<ModelArtifact> for KeptVersion {
    fn from(artifact: ModelArtifact) -> Self {
        let summary = match serde_json::from_value(artifact.summary) {
            Ok(summary) => Some(summary),
            Err(error) => {
                warn!(version = %artifact.version, %error, "a kept recommender version has an unreadable summary");
                None
            }
        };
        Self {
            version: artifact.version,
            trained_at: artifact.created_at,
            size_bytes: artifact.size_bytes,
            summary,
        }
    }
}

impl RecommendService {
    /// Keeps `model` in the store as the version every replica serves, then serves it here.
    /// Older versions beyond the last few are forgotten (never the one served).
    pub(super) async fn publish(
        &self,
        model: Recommender,
        summary: &ModelSummary,
    ) -> Result<Arc<Recommender>, RecommendError> {
        let model = Arc::new(model);
        let bytes = {
            let model = model.clone();
            tokio::task::spawn_blocking(move || model.to_bytes())
                .await
                .map_err(|e| {
                    RecommendError::Numerical(format!("writing the model panicked: {e}"))
                })?
        };
        let artifact = ModelArtifact {
            name: MODEL_NAME.into(),
            version: model.version().to_owned(),
            created_at: Utc::now(),
            size_bytes: bytes.len() as u64,
            summary: serde_json::to_value(summary).map_err(|e| {
                RecommendError::Numerical(format!("failed to write the model summary: {e}"))
            })?,
        };
        let kept = self
            .artifacts
            .publish_model(&artifact, &bytes, true)
            .await?;
        if !kept {
            return Err(RecommendError::InvalidInput(format!(
                "model version {} is taken",
                artifact.version
            )));
        }
        if let Err(error) = self
            .artifacts
            .prune_models(MODEL_NAME, KEPT_VERSIONS as u32)
            .await
        {
            warn!(%error, "failed to forget old recommender versions; they stay in the store");
        }
        self.serve_here(model.clone());
        info!(version = %artifact.version, bytes = artifact.size_bytes, "recommender model published");
        Ok(model)
    }

    /// Serves `model` in this replica, keeping the last few loaded for a quick rollback.
    fn serve_here(&self, model: Arc<Recommender>) {
        {
            let mut loaded = self.loaded.write();
            if !loaded.iter().any(|kept| kept.version() == model.version()) {
                loaded.push(model.clone());
                let excess = loaded.len().saturating_sub(KEPT_VERSIONS);
                loaded.drain(..excess);
            }
        }
        *self.current.write() = Some(model);
    }

    /// Serves the version the store names, reading it from the store when this replica does not
    /// hold it. Returns whether the model served here changed (`false` when it was already
    /// served, or when the store names none yet).
    pub async fn follow(&self) -> Result<bool, RecommendError> {
        let Some(version) = self.artifacts.serving_model(MODEL_NAME).await? else {
            return Ok(false);
        };
        if self.version().as_deref() == Some(version.as_str()) {
            return Ok(false);
        }
        let held = self
            .loaded
            .read()
            .iter()
            .find(|kept| kept.version() == version)
            .cloned();
        let model = match held {
            Some(model) => model,
            None => Arc::new(self.read_version(&version).await?),
        };
        self.serve_here(model);
        info!(%version, "recommender model served from the store");
        Ok(true)
    }

    /// A stored version, with this replica's weights, rules and ranker runtime.
    async fn read_version(&self, version: &str) -> Result<Recommender, RecommendError> {
        let bytes = self
            .artifacts
            .model_bytes(MODEL_NAME, version)
            .await?
            .ok_or_else(|| {
                RecommendError::NotFound(format!("no stored model version {version}"))
            })?;
        let (weights, rules, manifest) = (
            self.config.weights.clone(),
            self.config.rules.clone(),
            self.manifest.clone(),
        );
        let model = tokio::task::spawn_blocking(move || {
            Recommender::from_bytes(&bytes, weights, rules, manifest.as_deref())
        })
        .await
        .map_err(|e| RecommendError::Numerical(format!("reading the model panicked: {e}")))??;
        if model.version() != version {
            return Err(RecommendError::StoredModel {
                version: version.to_owned(),
                reason: format!("its bytes are version {}", model.version()),
            });
        }
        Ok(model)
    }

    /// The versions kept in the store, oldest first.
    pub async fn versions(&self) -> Result<Vec<String>, RecommendError> {
        Ok(self
            .stored_artifacts()
            .await?
            .into_iter()
            .map(|artifact| artifact.version)
            .collect())
    }

    /// The versions kept in the store, oldest first, with what training reported of each.
    pub async fn stored_versions(&self) -> Result<Vec<KeptVersion>, RecommendError> {
        Ok(self
            .stored_artifacts()
            .await?
            .into_iter()
            .map(KeptVersion::from)
            .collect())
    }

    async fn stored_artifacts(&self) -> Result<Vec<ModelArtifact>, RecommendError> {
        self.artifacts
            .model_versions(MODEL_NAME)
            .await
            .map_err(RecommendError::from)
    }

    /// Serves a kept version again: here at once, on every other replica at its next look at
    /// the store.
    pub async fn rollback(&self, version: &str) -> Result<(), RecommendError> {
        if !self.artifacts.serve_model(MODEL_NAME, version).await? {
            return Err(RecommendError::InvalidInput(format!(
                "no kept version {version}"
            )));
        }
        self.follow().await?;
        info!(version, "recommender rolled back");
        Ok(())
    }

    /// Whether a scheduled training is due: the newest version in the store is at least
    /// `every` old, or there is none.
    pub async fn training_due(&self, every: Duration) -> Result<bool, RecommendError> {
        let versions = self.stored_artifacts().await?;
        let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        Ok(versions
            .last()
            .is_none_or(|newest| Utc::now() - newest.created_at >= every))
    }

    /// Follows the store every `follow_secs` until `shutdown`; a failure is logged, the model
    /// served stays, and the next look tries again.
    pub async fn run_follow(&self, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.config.follow_secs.max(1));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The same failure (a version this build cannot read, say) is logged once, not at
        // every look.
        let mut last_failure = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.follow().await {
                Ok(_) => last_failure = None,
                Err(error) => {
                    let failure = error.to_string();
                    if last_failure.as_ref() != Some(&failure) {
                        warn!(%error, "failed to follow the recommender version served in the store; the model served stays");
                        last_failure = Some(failure);
                    }
                }
            }
        }
    }
}
