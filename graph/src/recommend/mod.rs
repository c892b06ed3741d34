//! The recommender's API: lists for the signed-in customer, live; interactions in; the
//! catalogue.
//!
//! A list is only ever the caller's own: no field takes a user argument, the user is the
//! token's subject, and the subscription is per-user ([`crate::policy`]), so no execution is
//! shared between customers. Operators' experiments are in [`experiments`].

pub mod experiments;

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::future;
use futures::stream::{self, Stream, StreamExt};
use tracing::{instrument, warn};

use finpulse_bus::fanout::FanOutItem;
use finpulse_core::recommend::{Interaction, InteractionKind, Item, ItemKind};
use finpulse_recommend::events::recommendations_channel;
use finpulse_recommend::recommender::Recommender;
use finpulse_recommend::service::{
    KeptVersion, PUSHED, RecommendService, RecommendationList as List,
};

use crate::error::{ApiError, ApiResult};
use crate::policy::FieldPolicy;
use crate::{GraphContext, Need, Principal};

/// Most items a list may hold.
const MAX_FIRST: usize = PUSHED;

// The API's list differs from the domain's: each item is the catalogue item itself (the
// domain's list names items by id), the experiment's assignment sits in the provenance, and a
// list is cut to the kinds and length the client asked for.
/// One recommended item.
#[derive(Debug, Clone, SimpleObject)]
pub struct Recommendation {
    /// The item.
    pub item: Item,
    /// Its score after the rules (higher is better; comparable within one list only).
    pub score: f64,
    /// Why it is shown.
    pub explanation: String,
    /// The list it belongs to: send it back with interactions, for attribution.
    pub recommendation_id: String,
}

/// Where a list came from.
#[derive(Debug, Clone, SimpleObject)]
pub struct Provenance {
    /// `ease`, `als`, or `popularity` for a customer with no history yet.
    pub model: String,
    /// The trained model's version.
    pub model_version: String,
    /// The strategy that made the list (`collaborative` outside experiments).
    pub strategy: String,
    /// The experiment the list was made for, if any.
    pub experiment: Option<String>,
    /// The experiment's variant that made it.
    pub variant: Option<String>,
    /// The feature sets (`name@version`) the list read.
    pub feature_sets: Vec<String>,
}

/// A customer's list.
#[derive(Debug, Clone, SimpleObject)]
pub struct RecommendationList {
    /// The list's id (each item's `recommendationId`).
    pub id: String,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The items, best first.
    pub items: Vec<Recommendation>,
    /// Where it came from.
    pub provenance: Provenance,
}

impl RecommendationList {
    /// The GraphQL list of a service list: items looked up in the model's catalogue (one
    /// removed since is left out), kept to `kinds` and `first`.
    fn of(list: List, model: &Recommender, kinds: &[ItemKind], first: usize) -> Self {
        let items = list
            .list
            .items
            .into_iter()
            .filter_map(|recommended| {
                let item = model.catalogue().get(&recommended.item)?.clone();
                (kinds.is_empty() || kinds.contains(&item.kind)).then(|| Recommendation {
                    item,
                    score: f64::from(recommended.score),
                    explanation: recommended.explanation,
                    recommendation_id: list.id.clone(),
                })
            })
            .take(first)
            .collect();
        let (experiment, variant) = match list.assignment {
            Some(assignment) => (Some(assignment.experiment), Some(assignment.variant)),
            None => (None, None),
        };
        Self {
            id: list.id,
            generated_at: list.generated_at,
            items,
            provenance: Provenance {
                model: list.list.model,
                model_version: list.list.model_version,
                strategy: list.list.strategy,
                experiment,
                variant,
                feature_sets: list.list.feature_sets,
            },
        }
    }

    fn item_ids(&self) -> Vec<String> {
        self.items.iter().map(|r| r.item.id.clone()).collect()
    }
}

/// Hands a list to a client: logs it as shown (an experiment's impression) and maps it.
async fn hand_over(
    service: &RecommendService,
    list: List,
    model: &Recommender,
    kinds: &[ItemKind],
    first: usize,
) -> RecommendationList {
    let served = RecommendationList::of(list.clone(), model, kinds, first);
    service.shown(&list, served.item_ids()).await;
    served
}

/// The same for a list a subscription delivers: the impression is written in the background,
/// so delivery never waits for the store.
fn hand_over_live(
    service: &Arc<RecommendService>,
    list: List,
    model: &Recommender,
    kinds: &[ItemKind],
    first: usize,
) -> RecommendationList {
    let served = RecommendationList::of(list.clone(), model, kinds, first);
    service.shown_in_background(list, served.item_ids());
    served
}

/// The recommender of this server, or `UNAVAILABLE`.
pub(crate) fn service(ctx: &Context<'_>) -> ApiResult<Arc<RecommendService>> {
    Ok(ctx
        .data::<GraphContext>()?
        .recommend
        .clone()
        .ok_or_else(|| {
            ApiError::Unavailable("the recommender is not running on this server".into())
        })?)
}

fn model(service: &RecommendService) -> Result<Arc<Recommender>, ApiError> {
    service.current().ok_or_else(|| {
        ApiError::Unavailable("the recommender is still training its first model".into())
    })
}

fn first_arg(first: i32) -> Result<usize, ApiError> {
    usize::try_from(first)
        .ok()
        .filter(|first| (1..=MAX_FIRST).contains(first))
        .ok_or_else(|| ApiError::BadUserInput(format!("first must be 1 to {MAX_FIRST}")))
}

/// Recommendation queries.
#[derive(Debug, Default)]
pub struct RecommendQuery;

#[Object]
impl RecommendQuery {
    /// The signed-in customer's recommendations now, best first: `first` of them (1 to 50),
    /// of `kinds` (all when omitted). Suitability rules always apply.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer(\"recommendations:read\")")]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        kinds: Option<Vec<ItemKind>>,
    ) -> ApiResult<RecommendationList> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let first = first_arg(first)?;
        let service = service(ctx)?;
        let model = model(&service)?;
        let kinds = kinds.unwrap_or_default();
        let list = service
            .recommend(&user, first, &kinds)
            .await
            .map_err(ApiError::from)?;
        Ok(hand_over(&service, list, &model, &kinds, first).await)
    }

    /// The model version this server serves and the versions kept in the store for every
    /// server. Needs the `admin` role.
    #[graphql(guard = "Need::role(crate::Role::Admin)")]
    async fn recommender_models(&self, ctx: &Context<'_>) -> ApiResult<RecommenderModels> {
        models_of(service(ctx)?.as_ref()).await
    }

    /// Catalogue items of `kinds` (all when omitted) in id order, `first` (1 to 200) after the
    /// id `after`.
    async fn items(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<ItemKind>>,
        after: Option<String>,
        #[graphql(default = 50)] first: i32,
    ) -> ApiResult<Vec<Item>> {
        let first = u32::try_from(first)
            .ok()
            .filter(|first| (1..=200).contains(first))
            .ok_or_else(|| ApiError::BadUserInput("first must be 1 to 200".into()))?;
        let service = service(ctx)?;
        let kinds = kinds.unwrap_or_default();
        let items = service.items(&kinds, after.as_deref(), first);
        Ok(items.await.map_err(ApiError::from)?)
    }

    /// One catalogue item.
    async fn item(&self, ctx: &Context<'_>, id: String) -> ApiResult<Option<Item>> {
        Ok(service(ctx)?.item(&id).await.map_err(ApiError::from)?)
    }

    /// Items like `id`: what customers who engaged with it also engaged with, and items with
    /// the same attributes.
    async fn similar_items(
        &self,
        ctx: &Context<'_>,
        id: String,
        #[graphql(default = 10)] first: i32,
    ) -> ApiResult<Vec<Item>> {
        let first = first_arg(first)?;
        let service = service(ctx)?;
        let model = model(&service)?;
        if model.catalogue().get(&id).is_none() {
            return Err(ApiError::BadUserInput(format!(
                "no item `{}`",
                id.chars().take(64).collect::<String>()
            ))
            .into());
        }
        Ok(model
            .similar_items(&id, first)
            .into_iter()
            .map(|(item, _)| item.clone())
            .collect())
    }
}

/// The recommender's trained versions (operators only).
#[derive(Debug, Clone, SimpleObject)]
pub struct RecommenderModels {
    /// The version this server serves (every server follows the store's within
    /// `recommend.service.follow_secs`).
    pub serving: Option<String>,
    /// The versions kept in the store for rollback, oldest first.
    pub versions: Vec<String>,
    /// The same versions with what training reported of each.
    pub kept: Vec<RecommenderVersion>,
}

/// One trained version kept in the store.
#[derive(Debug, Clone, SimpleObject)]
pub struct RecommenderVersion {
    /// The version.
    pub version: String,
    /// When it was trained.
    pub trained_at: chrono::DateTime<chrono::Utc>,
    /// The size of the stored model.
    pub size_bytes: f64,
    /// The collaborative model (`ease` or `als`).
    pub model: Option<String>,
    /// Catalogue items it knows.
    pub items: Option<i64>,
    /// Customers with history it was trained on.
    pub users: Option<i64>,
    /// Interactions it was trained on.
    pub interactions: Option<i64>,
    /// The learned ranker it carries, if any.
    pub ranker: Option<String>,
}

// Flat, as the API has always shown it; the domain keeps the summary apart because a version
// written by another release may lack one.
impl From<KeptVersion> for RecommenderVersion {
    fn from(kept: KeptVersion) -> Self {
        let summary = kept.summary;
        Self {
            version: kept.version,
            trained_at: kept.trained_at,
            size_bytes: kept.size_bytes as f64,
            model: summary.as_ref().map(|s| s.model.clone()),
            items: summary.as_ref().map(|s| s.items as i64),
            users: summary.as_ref().map(|s| s.users as i64),
            interactions: summary.as_ref().map(|s| s.interactions as i64),
            ranker: summary.and_then(|s| s.ranker),
        }
    }
}

async fn models_of(service: &RecommendService) -> ApiResult<RecommenderModels> {
    let kept: Vec<RecommenderVersion> = service
        .stored_versions()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(RecommenderVersion::from)
        .collect();
    Ok(RecommenderModels {
        serving: service.version(),
        versions: kept.iter().map(|v| v.version.clone()).collect(),
        kept,
    })
}

/// Recommendation mutations.
#[derive(Debug, Default)]
pub struct RecommendMutation;

#[Object]
impl RecommendMutation {
    /// Trains a new model from the store now and serves it on every server (this one at once,
    /// the others at their next look at the store). Needs the `admin` role.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::role(crate::Role::Admin)")]
    async fn retrain_recommender(&self, ctx: &Context<'_>) -> ApiResult<RecommenderModels> {
        let service = service(ctx)?;
        service.train().await.map_err(ApiError::from)?;
        let models = models_of(&service).await?;
        crate::audit::record(
            ctx,
            "recommender.retrain",
            None,
            models.serving.as_deref(),
            serde_json::json!({}),
        )
        .await?;
        Ok(models)
    }

    /// Serves a kept version again, on every server. Needs the `admin` role.
    #[instrument(skip_all, fields(version = %version), err(Debug))]
    #[graphql(guard = "Need::role(crate::Role::Admin)")]
    async fn rollback_recommender(
        &self,
        ctx: &Context<'_>,
        version: String,
    ) -> ApiResult<RecommenderModels> {
        let service = service(ctx)?;
        service.rollback(&version).await.map_err(ApiError::from)?;
        crate::audit::record(
            ctx,
            "recommender.rollback",
            None,
            Some(&version),
            serde_json::json!({}),
        )
        .await?;
        models_of(&service).await
    }

    /// Records what the signed-in customer did with an item; their recommendations update at
    /// once (on the `recommendations` subscription). `rating` (1 to 5) goes with `RATE` only;
    /// `recommendationId` is the list the item was shown in.
    #[instrument(skip_all, fields(item = %item_id), err(Debug))]
    #[graphql(guard = "Need::customer(\"interactions:write\")")]
    async fn track_interaction(
        &self,
        ctx: &Context<'_>,
        item_id: String,
        kind: InteractionKind,
        rating: Option<f64>,
        recommendation_id: Option<String>,
    ) -> ApiResult<bool> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let service = service(ctx)?;
        let known = service
            .is_known_item(&item_id)
            .await
            .map_err(ApiError::from)?;
        if !known {
            let shown = item_id.chars().take(64).collect::<String>();
            return Err(ApiError::BadUserInput(format!("no item `{shown}`")).into());
        }
        let interaction = Interaction {
            user,
            item: item_id,
            kind,
            rating: rating.map(|r| r as f32),
            recommendation_id,
            at: Utc::now(),
        };
        service.track(interaction).await.map_err(ApiError::from)?;
        Ok(true)
    }
}

/// Recommendation subscriptions.
#[derive(Debug, Default)]
pub struct RecommendSubscription;

/// How each field below may travel ([`crate::policy`]); every field must have an entry.
pub(crate) const POLICIES: &[FieldPolicy] = &[
    // The caller's own recommendations: never shared.
    FieldPolicy::per_user("recommendations"),
];

#[Subscription]
impl RecommendSubscription {
    /// The signed-in customer's recommendations: the list now, then a new list each time their
    /// interactions change it.
    #[graphql(guard = "Need::customer(\"recommendations:read\")")]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        kinds: Option<Vec<ItemKind>>,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<RecommendationList>> + use<>> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let first = first_arg(first)?;
        let service = service(ctx)?;
        let kinds = kinds.unwrap_or_default();
        // Subscribe before reading the current list, so no change falls between the two.
        let pushed = service
            .fanout()
            .try_subscribe(&recommendations_channel(&user))
            .map_err(ApiError::from)?;
        let model = model(&service)?;
        let now = service
            .recommend(&user, PUSHED, &[])
            .await
            .map_err(ApiError::from)?;
        let initial = hand_over_live(&service, now, &model, &kinds, first);
        let updates = pushed.filter_map(move |item| {
            future::ready(match item {
                FanOutItem::Message(bytes) => {
                    match (serde_json::from_slice::<List>(&bytes), service.current()) {
                        (Ok(list), Some(model)) => {
                            Some(Ok(hand_over_live(&service, list, &model, &kinds, first)))
                        }
                        (Err(error), _) => {
                            warn!(%error, "skipping an undecodable recommendations message");
                            None
                        }
                        (_, None) => None,
                    }
                }
                // A missed list is superseded by the next: nothing to report.
                FanOutItem::Lagged(_) => None,
            })
        });
        Ok(stream::once(future::ready(Ok(initial))).chain(updates))
    }
}
