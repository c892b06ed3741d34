//! The recommender as the platform runs it: the current model, customers' state from the
//! store, interactions onto the log and lists onto the fan-out.
//!
//! One [`RecommendService`] per process. A model is trained from the store (catalogue,
//! profiles, every interaction) off the async workers, kept in the store as a versioned
//! artifact and served by every replica: each follows the version the store names (see
//! `versions.rs`), swapping it in atomically, so one training (a worker's schedule,
//! `retrainRecommender` or `finpulse train recommender`) reaches them all, and a rollback too. A customer's state is read from the store
//! (their profile and latest interactions) when asked for; the processor keeps the states of
//! the customers it has seen in memory and updates them per event.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use finpulse_bus::{EventLog, FanOut};
use finpulse_core::recommend::{Experience, Interaction, Item, ItemKind, UserProfile};
use finpulse_store::{
    ExperimentData, FeatureData, MarketData, ModelArtifacts, OnlineFeatures, RecommendData,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::RecommendError;
use crate::catalogue::Catalogue;
use crate::events::recommendations_channel;
use crate::experiments::live::{Assignment, Experiments};
use crate::feature_sets::FeatureStore;
use crate::models::CfConfig;
use crate::recommender::{Recommendations, Recommender, UserState, Weights};
use crate::rules::Rules;

mod training;
mod versions;
use crate::strategy::{self, DEFAULT_STRATEGY, Strategy};
pub use versions::{KeptVersion, MODEL_NAME, ModelSummary};

/// How many of a customer's latest interactions make their state.
pub const HISTORY: u32 = 500;
/// How many items a pushed list holds (subscriptions take their `first` of them).
pub const PUSHED: usize = 50;
/// Impression writes of pushed lists in flight at most.
pub const IMPRESSION_WRITES: usize = 256;
/// How many trained versions are kept for rollback (in the store, and loaded in a replica).
const KEPT_VERSIONS: usize = 5;

/// The recommender's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendConfig {
    /// The collaborative model.
    pub model: CfConfig,
    /// Interaction weights.
    pub weights: Weights,
    /// Suitability, business rules and diversity.
    pub rules: Rules,
    /// Retrain this often (seconds; 0: only on demand). Where several workers run, one that
    /// finds a version younger than half this period in the store leaves the turn to it.
    pub retrain_secs: u64,
    /// Look this often for a new version served in the store (seconds).
    pub follow_secs: u64,
    /// The profile of a customer the store has none for: cautious until assessed.
    pub default_profile: DefaultProfile,
    /// Train the learned ranker at every training when the manifest's ranker file is absent.
    pub train_ranker: bool,
    /// Strategies besides (or replacing) the built-in ones, by name.
    pub strategies: BTreeMap<String, Strategy>,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            // A live catalogue is small and sparse: a lighter penalty than MovieLens needs, and
            // recency on, since what a customer did last says most about what they want next.
            model: CfConfig {
                ease: crate::models::EaseConfig { lambda: 20.0 },
                recency: 0.4,
                ..CfConfig::default()
            },
            weights: Weights::default(),
            rules: Rules::default(),
            retrain_secs: 300,
            follow_secs: 2,
            default_profile: DefaultProfile::default(),
            train_ranker: true,
            strategies: BTreeMap::new(),
        }
    }
}

/// The profile assumed for a customer with none stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultProfile {
    /// Risk profile 1–7.
    pub risk_profile: u8,
    /// Experience.
    pub experience: Experience,
    /// Country (ISO 3166 alpha-2), empty when unknown.
    pub country: String,
}

impl Default for DefaultProfile {
    fn default() -> Self {
        Self {
            risk_profile: 3,
            experience: Experience::Beginner,
            country: String::new(),
        }
    }
}

/// A list as it is served and pushed: the recommendation id, for attribution, with the items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationList {
    /// Id of this list; interactions with its items carry it back.
    pub id: String,
    /// Whose list.
    pub user: String,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The items and their provenance.
    #[serde(flatten)]
    pub list: Recommendations,
    /// The experiment and variant that made it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
}

/// What one training run produced.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The new version.
    pub version: String,
    /// Items in the catalogue.
    pub items: usize,
    /// Customers with history.
    pub users: usize,
    /// Interactions read.
    pub interactions: usize,
    /// The model (`ease` or `als`).
    pub model: &'static str,
    /// The learned ranker, when one serves the `ranked` strategy.
    pub ranker: Option<crate::learned_ranker::BuiltRanker>,
}

/// Where the recommender keeps things.
#[derive(Clone)]
pub struct RecommendStores {
    /// Catalogue, profiles, interactions.
    pub data: Arc<dyn RecommendData>,
    /// Experiments, impressions, outcomes.
    pub experiments: Arc<dyn ExperimentData>,
    /// The feature store's offline rows.
    pub features: Arc<dyn FeatureData>,
    /// The feature store's online rows (Redis, or in process).
    pub online_features: Arc<dyn OnlineFeatures>,
    /// Prices: instruments' daily candles, for the momentum features.
    pub market: Arc<dyn MarketData>,
    /// Trained versions, for every replica to serve.
    pub artifacts: Arc<dyn ModelArtifacts>,
}

impl RecommendStores {
    /// Every store from one backend that implements them all (a [`finpulse_store::SqlStore`]),
    /// with `online` for the online features.
    pub fn of<S>(store: Arc<S>, online: Arc<dyn OnlineFeatures>) -> Self
    where
        S: RecommendData + ExperimentData + FeatureData + MarketData + ModelArtifacts,
    {
        Self {
            data: store.clone(),
            experiments: store.clone(),
            features: store.clone(),
            online_features: online,
            market: store.clone(),
            artifacts: store,
        }
    }
}

/// The recommender service.
pub struct RecommendService {
    config: RecommendConfig,
    store: Arc<dyn RecommendData>,
    market: Arc<dyn MarketData>,
    artifacts: Arc<dyn ModelArtifacts>,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    experiments: Arc<Experiments>,
    features: Arc<FeatureStore>,
    strategies: BTreeMap<String, Strategy>,
    /// The model manifest (ONNX Runtime, the ranker's contract), when models are set up.
    manifest: Option<std::path::PathBuf>,
    /// Impression writes in flight from pushed lists (see `shown_in_background`).
    impression_writes: Arc<tokio::sync::Semaphore>,
    impressions_dropped: std::sync::atomic::AtomicU64,
    /// Description embeddings, for content similarity.
    embedder: Option<Arc<dyn finpulse_inference::Embeddings>>,
    /// Embedded descriptions by item id: (the text embedded, its vector).
    embedded: parking_lot::Mutex<HashMap<String, (String, Vec<f32>)>>,
    current: RwLock<Option<Arc<Recommender>>>,
    /// Versions loaded here, oldest first: a rollback to one of them needs no read.
    loaded: RwLock<Vec<Arc<Recommender>>>,
}

impl std::fmt::Debug for RecommendService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecommendService")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl RecommendService {
    /// A service with no model yet ([`RecommendService::train`] makes one).
    pub fn new(
        config: RecommendConfig,
        stores: RecommendStores,
        log: Arc<dyn EventLog>,
        fanout: Arc<dyn FanOut>,
    ) -> Self {
        let strategies = strategy::resolve(&config.strategies);
        Self {
            config,
            store: stores.data,
            market: stores.market,
            artifacts: stores.artifacts,
            log,
            fanout,
            experiments: Arc::new(Experiments::new(stores.experiments, rand::random())),
            features: Arc::new(FeatureStore::new(stores.features, stores.online_features)),
            strategies,
            manifest: None,
            impression_writes: Arc::new(tokio::sync::Semaphore::new(IMPRESSION_WRITES)),
            impressions_dropped: std::sync::atomic::AtomicU64::new(0),
            embedder: None,
            embedded: parking_lot::Mutex::new(HashMap::new()),
            current: RwLock::new(None),
            loaded: RwLock::new(Vec::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RecommendConfig {
        &self.config
    }

    /// The same service with the model manifest (for the learned ranker) and an embedding
    /// model (for content similarity).
    pub fn with_models(
        mut self,
        manifest: Option<std::path::PathBuf>,
        embedder: Option<Arc<dyn finpulse_inference::Embeddings>>,
    ) -> Self {
        self.manifest = manifest;
        self.embedder = embedder;
        self
    }

    /// The experiments.
    pub fn experiments(&self) -> &Arc<Experiments> {
        &self.experiments
    }

    /// The feature store.
    pub fn features(&self) -> &Arc<FeatureStore> {
        &self.features
    }

    /// The strategies by name (built-in and configured).
    pub fn strategies(&self) -> &BTreeMap<String, Strategy> {
        &self.strategies
    }

    /// The store's recommender repository, for this crate only: callers use the service's
    /// methods, which keep its rules.
    pub(crate) fn store(&self) -> &Arc<dyn RecommendData> {
        &self.store
    }

    /// The prices the momentum features read (and the behaviour simulator seeds).
    pub fn market(&self) -> &Arc<dyn MarketData> {
        &self.market
    }

    /// The model being served, if any.
    pub fn current(&self) -> Option<Arc<Recommender>> {
        self.current.read().clone()
    }

    /// Catalogue items of `kinds` (all when empty) in id order, at most `first` after the id
    /// `after`.
    pub async fn items(
        &self,
        kinds: &[ItemKind],
        after: Option<&str>,
        first: u32,
    ) -> Result<Vec<Item>, RecommendError> {
        Ok(self.store.items(kinds, after, first).await?)
    }

    /// One catalogue item, if there is one of that id.
    pub async fn item(&self, id: &str) -> Result<Option<Item>, RecommendError> {
        Ok(self.store.item(id).await?)
    }

    /// Whether interactions with `id` may be recorded: an item the served model knows, or one
    /// imported into the catalogue after it was trained.
    pub async fn is_known_item(&self, id: &str) -> Result<bool, RecommendError> {
        let in_model = self
            .current()
            .is_some_and(|model| model.catalogue().get(id).is_some());
        Ok(in_model || self.store.item(id).await?.is_some())
    }

    /// The version being served.
    pub fn version(&self) -> Option<String> {
        self.current().map(|model| model.version().to_owned())
    }

    /// Puts the demo catalogue into the store when it has no items.
    pub async fn seed_demo_catalogue(&self) -> Result<usize, RecommendError> {
        if !self.store.items(&[], None, 1).await?.is_empty() {
            return Ok(0);
        }
        let catalogue = Catalogue::demo();
        self.store.upsert_items(catalogue.items()).await?;
        Ok(catalogue.len())
    }

    fn default_profile(&self, user: &str) -> UserProfile {
        let default = &self.config.default_profile;
        UserProfile {
            id: user.to_owned(),
            risk_profile: default.risk_profile,
            experience: default.experience,
            country: default.country.clone(),
            interests: Vec::new(),
            holdings: Vec::new(),
        }
    }

    /// A customer's state from the store: their profile (or the default) and latest history.
    pub async fn load_state(&self, user: &str) -> Result<UserState, RecommendError> {
        let profile = self.store.user_profile(user).await?;
        let mut state = UserState::new(profile.unwrap_or_else(|| self.default_profile(user)));
        for interaction in self.store.user_interactions(user, HISTORY).await? {
            state.record(&interaction, &self.config.weights);
        }
        Ok(state)
    }

    /// A fresh list for a customer's state, made by the strategy of their variant when an
    /// experiment runs (the default strategy otherwise).
    pub fn list_for(
        &self,
        state: &UserState,
        first: usize,
        kinds: &[ItemKind],
    ) -> Result<RecommendationList, RecommendError> {
        let model = self.current().ok_or(RecommendError::NotReady)?;
        let mut assignment = self.experiments.assign(&state.profile.id);
        let strategy = assignment
            .as_ref()
            .and_then(|a| self.strategies.get_key_value(a.strategy.as_str()));
        // A variant naming a strategy this server lacks (configured on another replica only)
        // is served the default and not measured.
        if strategy.is_none() {
            assignment = None;
        }
        let (name, strategy) = strategy
            .or_else(|| self.strategies.get_key_value(DEFAULT_STRATEGY))
            .expect("the default strategy is built in");
        Ok(RecommendationList {
            id: uuid::Uuid::now_v7().to_string(),
            user: state.profile.id.clone(),
            generated_at: Utc::now(),
            list: model.recommend_with(state, first, kinds, Utc::now(), (name, strategy)),
            assignment,
        })
    }

    /// Logs a list handed to a client: an impression when an experiment made it. A failure is
    /// logged, not returned: the customer gets their list either way.
    pub async fn shown(&self, list: &RecommendationList, items: Vec<String>) {
        let Some(assignment) = &list.assignment else {
            return;
        };
        if let Err(error) = self
            .experiments
            .record_shown(&list.id, &list.user, assignment, items, Utc::now())
            .await
        {
            tracing::warn!(%error, "failed to log an impression");
        }
    }

    /// [`RecommendService::shown`] without waiting: for lists pushed to subscribers, whose
    /// delivery must not wait for the store. At most [`IMPRESSION_WRITES`] writes are in flight;
    /// past that an impression is dropped and counted ([`RecommendService::impressions_dropped`]),
    /// which loses a measurement, never a list.
    pub fn shown_in_background(self: &Arc<Self>, list: RecommendationList, items: Vec<String>) {
        if list.assignment.is_none() {
            return;
        }
        let Ok(permit) = self.impression_writes.clone().try_acquire_owned() else {
            let dropped = self
                .impressions_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = dropped + 1,
                    "impressions dropped: the store is behind"
                );
            }
            return;
        };
        let service = self.clone();
        tokio::spawn(async move {
            service.shown(&list, items).await;
            drop(permit);
        });
    }

    /// Impressions dropped because too many writes were in flight.
    pub fn impressions_dropped(&self) -> u64 {
        self.impressions_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A fresh list for a customer, from their stored state.
    pub async fn recommend(
        &self,
        user: &str,
        first: usize,
        kinds: &[ItemKind],
    ) -> Result<RecommendationList, RecommendError> {
        let state = self.load_state(user).await?;
        self.list_for(&state, first, kinds)
    }

    /// Checks an interaction and appends it to the log (the processor keeps and applies it).
    pub async fn track(&self, interaction: Interaction) -> Result<(), RecommendError> {
        crate::events::append_interaction(self.log.as_ref(), interaction).await
    }

    /// Pushes a list to its customer's channel.
    pub async fn push(&self, list: &RecommendationList) -> Result<(), RecommendError> {
        let bytes = serde_json::to_vec(list).expect("lists serialise");
        self.fanout
            .publish(&recommendations_channel(&list.user), Bytes::from(bytes))
            .await
            .map_err(RecommendError::from)
    }

    /// The fan-out, for subscriptions.
    pub fn fanout(&self) -> &Arc<dyn FanOut> {
        &self.fanout
    }
}
