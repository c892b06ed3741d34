//! Experiments on the serving path: which variant makes a customer's next list, which lists
//! were shown, and what came of them.
//!
//! At most one experiment runs at a time: one list can only be made one way, and two
//! experiments sharing customers would measure each other. The running experiment and its
//! counts are cached here and re-read from the store every [`REFRESH`] (the
//! [`Experiments::run_refresh`] task), so every replica serves the same experiment and a
//! bandit on each replica draws from the counts of all of them. A refresh also applies the
//! guardrail: a variant that breaches it is stopped in the store for everyone.
//!
//! A list made under an experiment carries its [`Assignment`]; it counts as an impression
//! once it is handed to a client ([`Experiments::record_shown`]: the query's answer, a
//! subscription's first list and each list pushed to a subscriber), not when it is made, so
//! lists nobody saw do not dilute the rates. An interaction that names a shown list's
//! recommendation id and one of its items, by the same customer within the window, flags that
//! list ([`Experiments::attribute`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use finpulse_core::recommend::experiment::{Impression, Outcome};
use finpulse_core::recommend::{Interaction, InteractionKind};
use finpulse_store::ExperimentData;
use parking_lot::{Mutex, RwLock};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    Counts, Experiment, Mode, Status, TrafficPoint, VariantResult, assign, breached, results,
    thompson, traffic_shares,
};
use crate::RecommendError;

/// How often the running experiment and its counts are re-read.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Which experiment and variant made a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The experiment.
    pub experiment: String,
    /// The variant.
    pub variant: String,
    /// The strategy the variant serves.
    pub strategy: String,
}

/// An experiment's figures now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentResults {
    /// The experiment.
    pub experiment: Experiment,
    /// Each variant's figures, in the definition's order (the control first).
    pub variants: Vec<VariantResult>,
    /// Lists shown per variant over time, with their shares of each bucket.
    pub traffic: Vec<TrafficPoint>,
    /// The traffic buckets' width in seconds.
    pub bucket_secs: u64,
}

struct Running {
    experiment: Experiment,
    /// Per variant, in the definition's order.
    counts: Vec<Counts>,
}

/// The experiments of one process.
pub struct Experiments {
    store: Arc<dyn ExperimentData>,
    running: RwLock<Option<Running>>,
    rng: Mutex<ChaCha8Rng>,
}

impl std::fmt::Debug for Experiments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiments")
            .field(
                "running",
                &self
                    .running
                    .read()
                    .as_ref()
                    .map(|r| r.experiment.id.clone()),
            )
            .finish_non_exhaustive()
    }
}

fn counts_by_variant(experiment: &Experiment, counts: &[(String, Counts)]) -> Vec<Counts> {
    experiment
        .variants
        .iter()
        .map(|variant| {
            counts
                .iter()
                .find(|(name, _)| *name == variant.name)
                .map(|(_, c)| *c)
                .unwrap_or_default()
        })
        .collect()
}

fn stopped_flags(experiment: &Experiment) -> Vec<bool> {
    experiment
        .variants
        .iter()
        .map(|v| experiment.stopped_variants.contains(&v.name))
        .collect()
}

impl Experiments {
    /// Experiments kept in `store`; `seed` seeds the bandit's draws.
    pub fn new(store: Arc<dyn ExperimentData>, seed: u64) -> Self {
        Self {
            store,
            running: RwLock::new(None),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Every experiment, newest first.
    pub async fn list(&self) -> Result<Vec<Experiment>, RecommendError> {
        self.store.experiments().await.map_err(RecommendError::from)
    }

    /// One experiment.
    pub async fn get(&self, id: &str) -> Result<Experiment, RecommendError> {
        self.list()
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| RecommendError::NotFound(format!("no experiment `{}`", shown(id))))
    }

    /// Keeps a new experiment as a draft. `known` tells which strategy names exist.
    pub async fn create(
        &self,
        mut experiment: Experiment,
        known: impl Fn(&str) -> bool,
    ) -> Result<Experiment, RecommendError> {
        super::validate(&experiment, known).map_err(RecommendError::InvalidInput)?;
        experiment.status = Status::Draft;
        experiment.created_at = Utc::now();
        experiment.started_at = None;
        experiment.stopped_at = None;
        experiment.stopped_variants.clear();
        if !self.store.create_experiment(&experiment).await? {
            return Err(RecommendError::InvalidInput(format!(
                "an experiment `{}` exists already",
                shown(&experiment.id)
            )));
        }
        info!(experiment = %experiment.id, "experiment created");
        Ok(experiment)
    }

    /// Starts a draft or stopped experiment; refused while another runs.
    pub async fn start(&self, id: &str) -> Result<Experiment, RecommendError> {
        let all = self.list().await?;
        if let Some(other) = all
            .iter()
            .find(|e| e.status == Status::Running && e.id != id)
        {
            return Err(RecommendError::InvalidInput(format!(
                "experiment `{}` is running: stop it first",
                other.id
            )));
        }
        self.transition(id, &[Status::Draft, Status::Stopped], |e| {
            e.status = Status::Running;
            e.started_at = Some(Utc::now());
            e.stopped_at = None;
        })
        .await
    }

    /// Stops a running experiment; its lists go back to the default strategy.
    pub async fn stop(&self, id: &str) -> Result<Experiment, RecommendError> {
        self.transition(id, &[Status::Running], |e| {
            e.status = Status::Stopped;
            e.stopped_at = Some(Utc::now());
        })
        .await
    }

    /// Puts a draft or stopped experiment away (its results stay readable).
    pub async fn archive(&self, id: &str) -> Result<Experiment, RecommendError> {
        self.transition(id, &[Status::Draft, Status::Stopped], |e| {
            e.status = Status::Archived;
        })
        .await
    }

    async fn transition(
        &self,
        id: &str,
        from: &[Status],
        change: impl FnOnce(&mut Experiment),
    ) -> Result<Experiment, RecommendError> {
        let mut experiment = self.get(id).await?;
        if !from.contains(&experiment.status) {
            return Err(RecommendError::InvalidInput(format!(
                "experiment `{}` is {:?}, which this does not apply to",
                experiment.id, experiment.status
            )));
        }
        change(&mut experiment);
        self.store.update_experiment(&experiment).await?;
        info!(experiment = %experiment.id, status = ?experiment.status, "experiment changed");
        self.refresh().await?;
        Ok(experiment)
    }

    /// Re-reads the running experiment and its counts, and applies the guardrail.
    pub async fn refresh(&self) -> Result<(), RecommendError> {
        let running = self
            .list()
            .await?
            .into_iter()
            .find(|e| e.status == Status::Running);
        let Some(mut experiment) = running else {
            *self.running.write() = None;
            return Ok(());
        };
        let counts = self.store.experiment_counts(&experiment.id).await?;
        let counts = counts_by_variant(&experiment, &counts);
        let breaching: Vec<String> = experiment
            .variants
            .iter()
            .zip(&counts)
            .filter(|(variant, counts)| {
                !experiment.stopped_variants.contains(&variant.name)
                    && breached(&experiment.guardrail, counts)
            })
            .map(|(variant, _)| variant.name.clone())
            .collect();
        if !breaching.is_empty() {
            for name in &breaching {
                warn!(experiment = %experiment.id, variant = %name, "guardrail stopped a variant");
            }
            experiment.stopped_variants.extend(breaching);
            if experiment.stopped_variants.len() == experiment.variants.len() {
                experiment.status = Status::Stopped;
                experiment.stopped_at = Some(Utc::now());
            }
            self.store.update_experiment(&experiment).await?;
        }
        *self.running.write() =
            (experiment.status == Status::Running).then_some(Running { experiment, counts });
        Ok(())
    }

    /// Refreshes every [`REFRESH`] until `shutdown`.
    pub async fn run_refresh(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(REFRESH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(error) = self.refresh().await {
                warn!(%error, "failed to refresh experiments");
            }
        }
    }

    /// Which variant makes `user`'s next list; `None` outside experiments. A/B by hash, with a
    /// stopped variant's customers on the control; a bandit by a Thompson draw per list.
    pub fn assign(&self, user: &str) -> Option<Assignment> {
        let running = self.running.read();
        let running = running.as_ref()?;
        let experiment = &running.experiment;
        let stopped = stopped_flags(experiment);
        let index = match experiment.mode {
            Mode::AbTest => {
                let index = assign(experiment, user);
                if stopped[index] {
                    stopped.iter().position(|s| !s)?
                } else {
                    index
                }
            }
            Mode::Bandit => thompson(&running.counts, &stopped, &mut *self.rng.lock())?,
        };
        let variant = &experiment.variants[index];
        Some(Assignment {
            experiment: experiment.id.clone(),
            variant: variant.name.clone(),
            strategy: variant.strategy.clone(),
        })
    }

    /// Logs a list handed to a client as an impression of its variant (lists made outside an
    /// experiment are not logged). Showing the same list again changes nothing.
    pub async fn record_shown(
        &self,
        recommendation_id: &str,
        user: &str,
        assignment: &Assignment,
        items: Vec<String>,
        at: DateTime<Utc>,
    ) -> Result<(), RecommendError> {
        let window = self
            .running
            .read()
            .as_ref()
            .filter(|r| r.experiment.id == assignment.experiment)
            .map(|r| r.experiment.conversion_window_secs);
        // The experiment stopped since the list was made: it is no longer measured.
        let Some(window) = window else {
            return Ok(());
        };
        let expires_at = at + chrono::Duration::seconds(window.min(i64::MAX as u64 / 2) as i64);
        self.store
            .record_impressions(&[Impression {
                recommendation_id: recommendation_id.to_owned(),
                experiment: assignment.experiment.clone(),
                variant: assignment.variant.clone(),
                user: user.to_owned(),
                items,
                at,
                expires_at,
            }])
            .await
            .map_err(RecommendError::from)
    }

    /// Flags the shown lists these interactions name: a click counts as a click and a
    /// conversion, a save or buy as a conversion, a dismissal as a dismissal. Only the list's
    /// own customer, one of its items and the window count.
    pub async fn attribute(&self, interactions: &[Interaction]) -> Result<usize, RecommendError> {
        let mut ids: Vec<String> = interactions
            .iter()
            .filter_map(|i| i.recommendation_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        ids.sort_unstable();
        ids.dedup();
        let shown = self.store.impressions(&ids).await?;
        let mut outcomes: Vec<(String, Outcome)> = Vec::new();
        for interaction in interactions {
            let Some(id) = &interaction.recommendation_id else {
                continue;
            };
            let Some(impression) = shown.iter().find(|s| &s.recommendation_id == id) else {
                continue;
            };
            let counts = impression.user == interaction.user
                && impression.items.contains(&interaction.item)
                && interaction.at <= impression.expires_at;
            if !counts {
                continue;
            }
            let flags: &[Outcome] = match interaction.kind {
                InteractionKind::Click => &[Outcome::Click, Outcome::Conversion],
                InteractionKind::Save | InteractionKind::Buy => &[Outcome::Conversion],
                InteractionKind::Dismiss => &[Outcome::Dismissal],
                _ => &[],
            };
            outcomes.extend(flags.iter().map(|flag| (id.clone(), *flag)));
        }
        if !outcomes.is_empty() {
            self.store.record_outcomes(&outcomes).await?;
        }
        Ok(outcomes.len())
    }

    /// An experiment's figures now, with its traffic in about 40 buckets over its life.
    pub async fn results(&self, id: &str) -> Result<ExperimentResults, RecommendError> {
        let experiment = self.get(id).await?;
        let counts = self.store.experiment_counts(id).await?;
        let counts = counts_by_variant(&experiment, &counts);
        let variants = results(&experiment, &counts, &stopped_flags(&experiment));
        let since = experiment.started_at.unwrap_or(experiment.created_at);
        let until = experiment.stopped_at.unwrap_or_else(Utc::now);
        let span = (until - since).num_seconds().max(0) as u64;
        let bucket_secs = span.div_ceil(40).max(10);
        let traffic = traffic_shares(&self.store.experiment_traffic(id, bucket_secs).await?);
        Ok(ExperimentResults {
            experiment,
            variants,
            traffic,
            bucket_secs,
        })
    }
}

/// An id as an error message shows it: at most 64 characters.
fn shown(id: &str) -> String {
    id.chars().take(64).collect()
}
