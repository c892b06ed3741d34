//! The recommender's experiments for operators (every field needs the `admin` role): define,
//! start, stop and archive experiments, and watch their results live.
//!
//! The figures are `finpulse-recommend`'s ([`finpulse_recommend::experiments`]); this module
//! maps them. Results are read from the store, so every replica shows the same numbers; the
//! subscription re-reads them every [`REFRESH`] and sends them when they changed.

use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription};
use chrono::Utc;
use futures::stream::{self, Stream, StreamExt};
use tracing::instrument;

use finpulse_core::recommend::experiment::{
    Counts, Experiment, Guardrail, Mode, Status, TrafficPoint, Variant,
};
use finpulse_recommend::experiments::live::{ExperimentResults as Results, REFRESH};
use finpulse_recommend::experiments::{Rate, VariantResult};

use crate::error::{ApiError, ApiResult};
use crate::policy::FieldPolicy;
use crate::recommend::service;
use crate::{Need, Role};

// The domain's figures with each variant's strategy joined in (the domain's result names the
// variant only): mapped for that, their rates shown as they are (`Rate` is `Interval`).
/// One variant's figures.
#[derive(Debug, Clone, SimpleObject)]
pub struct VariantResults {
    /// The variant.
    pub name: String,
    /// The strategy it serves.
    pub strategy: String,
    /// Lists shown, clicked, converted, dismissed.
    pub counts: Counts,
    /// Clicked lists per list shown.
    pub ctr: Rate,
    /// Converted lists (a shown item clicked, saved or bought) per list shown.
    pub conversion: Rate,
    /// Two-sided p-value of its conversion against the control's (1 for the control).
    pub p_value: f64,
    /// Stopped by the guardrail.
    pub stopped: bool,
    /// Its share of the lists shown so far.
    pub share: f64,
}

/// An experiment's figures now.
#[derive(Debug, Clone, SimpleObject)]
pub struct ExperimentResults {
    /// The experiment.
    pub experiment: Experiment,
    /// Each variant, the control first.
    pub variants: Vec<VariantResults>,
    /// Lists shown per variant over time: the bandit's traffic shares.
    pub traffic: Vec<TrafficPoint>,
    /// The traffic buckets' width in seconds.
    pub bucket_secs: u64,
}

impl From<Results> for ExperimentResults {
    fn from(results: Results) -> Self {
        let variants = results
            .variants
            .into_iter()
            .zip(&results.experiment.variants)
            .map(
                |(result, variant): (VariantResult, &Variant)| VariantResults {
                    name: result.name,
                    strategy: variant.strategy.clone(),
                    counts: result.counts,
                    ctr: result.ctr,
                    conversion: result.conversion,
                    p_value: result.p_value,
                    stopped: result.stopped,
                    share: result.share,
                },
            )
            .collect();
        Self {
            experiment: results.experiment,
            variants,
            traffic: results.traffic,
            bucket_secs: results.bucket_secs,
        }
    }
}

/// A new experiment.
#[derive(Debug, Clone, InputObject)]
pub struct ExperimentInput {
    /// Its id (1 to 64 characters).
    pub id: String,
    /// What it tests.
    #[graphql(default)]
    pub description: String,
    /// The bucketing salt (default: the id).
    pub salt: Option<String>,
    /// 2 to 8 variants, the control first, each naming a strategy.
    pub variants: Vec<Variant>,
    /// A/B by hash or a Thompson-sampling bandit.
    pub mode: Mode,
    /// Stops a variant whose dismiss rate is too high (default: 20 % after 200 lists).
    pub guardrail: Option<Guardrail>,
    /// How long after a list is shown a click, save or buy counts (default a day).
    #[graphql(default = 86400)]
    pub conversion_window_secs: u64,
}

impl From<ExperimentInput> for Experiment {
    fn from(input: ExperimentInput) -> Self {
        Self {
            salt: input.salt.unwrap_or_else(|| input.id.clone()),
            id: input.id,
            description: input.description,
            variants: input.variants,
            mode: input.mode,
            guardrail: input.guardrail.unwrap_or_default(),
            conversion_window_secs: input.conversion_window_secs,
            status: Status::Draft,
            created_at: Utc::now(),
            started_at: None,
            stopped_at: None,
            stopped_variants: Vec::new(),
        }
    }
}

/// Experiment queries.
#[derive(Debug, Default)]
pub struct ExperimentQuery;

#[Object]
impl ExperimentQuery {
    /// Every experiment, newest first (archived ones only when asked). Needs `admin`.
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn experiments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
    ) -> ApiResult<Vec<Experiment>> {
        let all = service(ctx)?
            .experiments()
            .list()
            .await
            .map_err(ApiError::from)?;
        Ok(all
            .into_iter()
            .filter(|e| include_archived || e.status != Status::Archived)
            .collect())
    }

    /// The strategies variants may serve. Needs `admin`.
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn recommendation_strategies(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        Ok(service(ctx)?.strategies().keys().cloned().collect())
    }

    /// An experiment's figures now. Needs `admin`.
    #[instrument(skip_all, fields(experiment = %id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn experiment_results(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> ApiResult<ExperimentResults> {
        Ok(service(ctx)?
            .experiments()
            .results(&id)
            .await
            .map_err(ApiError::from)?
            .into())
    }
}

/// Experiment mutations.
#[derive(Debug, Default)]
pub struct ExperimentMutation;

#[Object]
impl ExperimentMutation {
    /// Defines an experiment (a draft until started). Needs `admin`.
    #[instrument(skip_all, fields(experiment = %input.id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn create_experiment(
        &self,
        ctx: &Context<'_>,
        input: ExperimentInput,
    ) -> ApiResult<Experiment> {
        let service = service(ctx)?;
        let strategies = service.strategies();
        let id = input.id.clone();
        let experiment = service
            .experiments()
            .create(input.into(), |name| strategies.contains_key(name))
            .await
            .map_err(ApiError::from)?;
        audited(ctx, "create", &id, experiment).await
    }

    /// Starts serving an experiment's variants (one experiment runs at a time). Needs `admin`.
    #[instrument(skip_all, fields(experiment = %id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn start_experiment(&self, ctx: &Context<'_>, id: String) -> ApiResult<Experiment> {
        let experiment = service(ctx)?
            .experiments()
            .start(&id)
            .await
            .map_err(ApiError::from)?;
        audited(ctx, "start", &id, experiment).await
    }

    /// Stops an experiment; lists go back to the default strategy. Needs `admin`.
    #[instrument(skip_all, fields(experiment = %id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn stop_experiment(&self, ctx: &Context<'_>, id: String) -> ApiResult<Experiment> {
        let experiment = service(ctx)?
            .experiments()
            .stop(&id)
            .await
            .map_err(ApiError::from)?;
        audited(ctx, "stop", &id, experiment).await
    }

    /// Puts a draft or stopped experiment away. Needs `admin`.
    #[instrument(skip_all, fields(experiment = %id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn archive_experiment(&self, ctx: &Context<'_>, id: String) -> ApiResult<Experiment> {
        let experiment = service(ctx)?
            .experiments()
            .archive(&id)
            .await
            .map_err(ApiError::from)?;
        audited(ctx, "archive", &id, experiment).await
    }
}

/// Records an operator's change to experiment `id` in the audit trail, then passes it on.
async fn audited(
    ctx: &Context<'_>,
    verb: &str,
    id: &str,
    experiment: Experiment,
) -> ApiResult<Experiment> {
    crate::audit::record(
        ctx,
        &format!("experiment.{verb}"),
        None,
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    Ok(experiment)
}

/// Experiment subscriptions.
#[derive(Debug, Default)]
pub struct ExperimentSubscription;

/// How each field below may travel ([`crate::policy`]); every field must have an entry.
pub(crate) const POLICIES: &[FieldPolicy] = &[
    // Operators only: each socket runs its own, guarded execution.
    FieldPolicy::per_user("experimentResults"),
];

#[Subscription]
impl ExperimentSubscription {
    /// An experiment's figures now, then again whenever they change. Needs `admin`.
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn experiment_results(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<ExperimentResults>> + use<>> {
        let service = service(ctx)?;
        let first = service
            .experiments()
            .results(&id)
            .await
            .map_err(ApiError::from)?;
        let ticks = stream::unfold(
            (service, id, first.clone()),
            |(service, id, last)| async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    match service.experiments().results(&id).await {
                        Ok(now) if now == last => continue,
                        Ok(now) => {
                            return Some((Ok(now.clone().into()), (service, id, now)));
                        }
                        Err(error) => {
                            let error = ApiError::from(error).into();
                            return Some((Err(error), (service, id, last)));
                        }
                    }
                }
            },
        );
        Ok(stream::once(async move { Ok(first.into()) }).chain(ticks))
    }
}
