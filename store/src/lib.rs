//! Persistence for finpulse.
//!
//! One small repository trait per concern — [`MarketData`], [`Watchlists`],
//! [`ProcessorStates`], [`DeadLetters`], [`RecommendData`], [`ExperimentData`], [`FeatureData`],
//! [`SupportData`], [`TicketData`], [`ModelArtifacts`], [`AuditData`], [`SignInData`] and [`Health`] — each implemented by [`SqlStore`] on the embedded default (SQLite) and the
//! distributed backend (PostgreSQL), and held to one conformance suite on both;
//! [`CachedMarketData`] puts the Redis cache in front of market data only, and [`Repositories`]
//! hands each caller the traits it needs. [`OnlineFeatures`] is the feature store's serving
//! side, in Redis ([`RedisOnlineFeatures`]) or in process ([`MemoryOnlineFeatures`]). The traits
//! are shaped around what callers do rather than around tables: the market processor writes one
//! [`MarketWrite`] batch per poll inside a single transaction, the GraphQL layer reads. Domains
//! to come add their own trait here (portfolios, users).
//!
//! Timestamps cross this boundary as `chrono::DateTime<Utc>` and are stored as epoch
//! milliseconds, which both engines index well and compare exactly.

mod artifacts;
pub mod audit;
mod cache;
mod error;
mod experiment;
mod feature_store;
mod market;
mod processors;
mod recommend;
pub mod sign_in;
mod sql;
mod support;
#[cfg(feature = "test-support")]
pub mod testing;
mod tickets;
mod watchlists;

pub use audit::{AuditData, AuditFilter, ChainBreak, ChainReport};
pub use cache::{CacheConfig, CachedMarketData};
pub use error::StoreError;
pub use feature_store::{MemoryOnlineFeatures, RedisOnlineFeatures};
pub use market::MarketWrite;
pub use processors::{ParkedEvent, ProcessorState};
pub use sign_in::SignInData;
pub use sql::{Engine, SqlStore};

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use finpulse_core::artifact::ModelArtifact;
use finpulse_core::feature_store::{FeatureRow, FeatureSummary};
use finpulse_core::market::{Candle, Insight, InsightKind, Quote};
use finpulse_core::recommend::experiment::{
    Counts, Experiment, Impression, Outcome, TrafficBucket,
};
use finpulse_core::recommend::{Interaction, Item, ItemKind, UserProfile};
use finpulse_core::support::{
    Conversation, ConversationStatus, CsatCounts, CustomerAccount, FaqEntry, Message, Participant,
    Ticket, TicketStatus,
};

/// Result type of every repository call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Quotes, candles and insights: written by the market processor, read by the schema.
#[async_trait]
pub trait MarketData: Send + Sync + 'static {
    /// Writes quotes, candles and insights of one processing batch atomically.
    ///
    /// Quotes and candles are upserts (the latest value wins); insights are keyed by their id,
    /// so writing the same batch twice (a redelivery) changes nothing.
    async fn record_market(&self, write: &MarketWrite) -> Result<()>;

    /// Every symbol with a quote, in alphabetical order.
    async fn symbols(&self) -> Result<Vec<String>>;

    /// The latest quote of `symbol`.
    async fn quote(&self, symbol: &str) -> Result<Option<Quote>>;

    /// Candles of `symbol` at `interval_secs` whose start lies in `[from, to)`, oldest first,
    /// at most `limit` of them (the most recent ones when more match).
    async fn candles(
        &self,
        symbol: &str,
        interval_secs: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Candle>>;

    /// The `last` most recent insights of `symbol`, newest first, optionally only `kinds`.
    async fn insights(
        &self,
        symbol: &str,
        kinds: &[InsightKind],
        last: u32,
    ) -> Result<Vec<Insight>>;

    /// Insights at or after `since` (market time), oldest first, at most `limit`: of `symbols`
    /// (all when empty) and `kinds` (all when empty). What a subscription that missed
    /// messages reads to catch up.
    async fn insights_since(
        &self,
        symbols: &[String],
        kinds: &[InsightKind],
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Insight>>;
}

/// Each user's watchlist.
#[async_trait]
pub trait Watchlists: Send + Sync + 'static {
    /// The symbols on `user_id`'s watchlist, in the order they were added.
    async fn watchlist(&self, user_id: &str) -> Result<Vec<String>>;

    /// Adds `symbol` to the watchlist (a no-op when present) and returns the new list.
    async fn add_to_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>>;

    /// Removes `symbol` from the watchlist (a no-op when absent) and returns the new list.
    async fn remove_from_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>>;
}

/// Processors' saved streaming state, with the log position it reflects.
#[async_trait]
pub trait ProcessorStates: Send + Sync + 'static {
    /// Saves the state of `processor` for some keys. A saved state older than the one kept (a
    /// lower offset in the same partition, as a worker that lost its partitions but has not
    /// noticed yet would write) does not replace it.
    async fn save_processor_states(&self, processor: &str, states: &[ProcessorState])
    -> Result<()>;

    /// The log position (partition, offset) of each saved state of `processor` among `keys`.
    async fn processor_state_positions(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<(String, i32, i64)>>;

    /// The saved states of `processor` among `keys`.
    async fn processor_states(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<ProcessorState>>;
}

/// Events no processor could handle, kept whole.
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    /// Keeps an event that could not be processed, with the reason, for later inspection.
    async fn park_event(&self, event: &ParkedEvent) -> Result<()>;

    /// The most recently parked events, newest first.
    async fn parked_events(&self, limit: u32) -> Result<Vec<ParkedEvent>>;
}

/// The recommender's catalogue, customer profiles and interactions.
#[async_trait]
pub trait RecommendData: Send + Sync + 'static {
    /// Adds items or replaces those with the same ids, atomically.
    async fn upsert_items(&self, items: &[Item]) -> Result<()>;

    /// The item with this id.
    async fn item(&self, id: &str) -> Result<Option<Item>>;

    /// Items of `kinds` (all when empty) with ids after `after`, in id order, at most `limit`
    /// (capped at 10,000): a page of the catalogue.
    async fn items(&self, kinds: &[ItemKind], after: Option<&str>, limit: u32)
    -> Result<Vec<Item>>;

    /// Adds customer profiles or replaces those with the same ids, atomically.
    async fn upsert_user_profiles(&self, profiles: &[UserProfile]) -> Result<()>;

    /// A customer's profile.
    async fn user_profile(&self, id: &str) -> Result<Option<UserProfile>>;

    /// Profiles with ids after `after`, in id order, at most `limit` (capped at 10,000).
    async fn user_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<UserProfile>>;

    /// Keeps interactions; one already kept (same user, item, kind and time: a redelivery) is
    /// not kept twice.
    async fn record_interactions(&self, interactions: &[Interaction]) -> Result<()>;

    /// A customer's `last` most recent interactions, oldest first.
    async fn user_interactions(&self, user: &str, last: u32) -> Result<Vec<Interaction>>;

    /// Every interaction, a page at a time in a stable order (pass the last of a page to get
    /// the next): what training reads.
    async fn interactions_page(
        &self,
        after: Option<&Interaction>,
        limit: u32,
    ) -> Result<Vec<Interaction>>;
}

/// The recommender's experiments: definitions, the lists shown under them and their outcomes.
#[async_trait]
pub trait ExperimentData: Send + Sync + 'static {
    /// Keeps a new experiment; `false` (and nothing changed) when its id is taken.
    async fn create_experiment(&self, experiment: &Experiment) -> Result<bool>;

    /// Replaces a kept experiment; `false` when there is none with its id.
    async fn update_experiment(&self, experiment: &Experiment) -> Result<bool>;

    /// Every experiment, newest first.
    async fn experiments(&self) -> Result<Vec<Experiment>>;

    /// Keeps lists shown; one already kept (same recommendation id) is not kept twice.
    async fn record_impressions(&self, impressions: &[Impression]) -> Result<()>;

    /// The kept impressions among these recommendation ids.
    async fn impressions(&self, recommendation_ids: &[String]) -> Result<Vec<Impression>>;

    /// Flags what came of shown lists (by recommendation id); flagging twice changes nothing.
    async fn record_outcomes(&self, outcomes: &[(String, Outcome)]) -> Result<()>;

    /// Each variant's counts (variants with no list shown yet are absent), by variant name.
    async fn experiment_counts(&self, experiment: &str) -> Result<Vec<(String, Counts)>>;

    /// Lists shown per variant in buckets of `bucket_secs`, oldest first.
    async fn experiment_traffic(
        &self,
        experiment: &str,
        bucket_secs: u64,
    ) -> Result<Vec<TrafficBucket>>;
}

/// The feature store's offline rows: every event time of every entity, for point-in-time
/// reads.
#[async_trait]
pub trait FeatureData: Send + Sync + 'static {
    /// Keeps rows; a row with the same set, version, entity and event time is replaced (a
    /// materialization run again for the same time).
    async fn write_feature_rows(&self, rows: &[FeatureRow]) -> Result<()>;

    /// Every row of `set@version` of these entities, by entity then event time.
    async fn feature_rows(
        &self,
        set: &str,
        version: u32,
        entities: &[String],
    ) -> Result<Vec<FeatureRow>>;

    /// Entities with rows of `set@version`, in id order, at most `limit`.
    async fn feature_entities(&self, set: &str, version: u32, limit: u32) -> Result<Vec<String>>;

    /// How many rows and entities `set@version` has, and the span of their event times.
    async fn feature_summary(&self, set: &str, version: u32) -> Result<FeatureSummary>;
}

/// The feature store's online values: the newest row per entity, for serving.
#[async_trait]
pub trait OnlineFeatures: Send + Sync + 'static {
    /// Keeps each row unless a newer one (a later event time) of its entity is held.
    async fn put(&self, rows: &[FeatureRow]) -> Result<()>;

    /// The newest row of each entity (in the order asked), `None` where there is none.
    async fn get(
        &self,
        set: &str,
        version: u32,
        entities: &[String],
    ) -> Result<Vec<Option<FeatureRow>>>;
}

/// The support desk: its FAQ knowledge base, conversations, participants and messages.
#[async_trait]
pub trait SupportData: Send + Sync + 'static {
    /// Adds FAQ entries or replaces those with the same id and language, atomically.
    async fn upsert_faq_entries(&self, entries: &[FaqEntry]) -> Result<()>;

    /// Every FAQ entry, by id then language.
    async fn faq_entries(&self) -> Result<Vec<FaqEntry>>;

    /// Removes an entry in one language, or in every language when `language` is `None`;
    /// returns how many language versions went.
    async fn delete_faq_entry(&self, id: &str, language: Option<&str>) -> Result<u64>;

    /// Keeps a new conversation (its customer becomes a participant); `false` (and nothing
    /// changed) when its id is taken.
    async fn create_conversation(&self, conversation: &Conversation) -> Result<bool>;

    /// Replaces a kept conversation; `false` when there is none with its id and customer.
    async fn update_conversation(&self, conversation: &Conversation) -> Result<bool>;

    /// The conversation with this id.
    async fn conversation(&self, id: &str) -> Result<Option<Conversation>>;

    /// A customer's conversations, most recently active first, at most `limit` (capped at
    /// 10,000).
    async fn conversations_of(&self, customer: &str, limit: u32) -> Result<Vec<Conversation>>;

    /// Conversations with `status`, longest waiting first (the agents' queue order), at most
    /// `limit`.
    async fn conversations_in(
        &self,
        status: ConversationStatus,
        limit: u32,
    ) -> Result<Vec<Conversation>>;

    /// How every resolved conversation was rated: an aggregate in SQL, not a listing.
    async fn csat_counts(&self) -> Result<CsatCounts>;

    /// Keeps messages; one already kept (same id: a redelivery) is not kept twice.
    async fn add_messages(&self, messages: &[Message]) -> Result<()>;

    /// A conversation's `last` most recent messages, oldest first.
    async fn messages(&self, conversation: &str, last: u32) -> Result<Vec<Message>>;

    /// Records that `user` took part in `role` (a no-op when already recorded).
    async fn add_participant(
        &self,
        conversation: &str,
        user: &str,
        role: Participant,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Who took part, in the order they joined.
    async fn participants(&self, conversation: &str) -> Result<Vec<(String, Participant)>>;

    /// Adds customers' account facts or replaces those of the same customer, atomically.
    async fn upsert_customer_accounts(&self, accounts: &[CustomerAccount]) -> Result<()>;

    /// A customer's account facts, when the desk has any.
    async fn customer_account(&self, customer: &str) -> Result<Option<CustomerAccount>>;

    /// Records that `user` works the desk as an agent, seen `at` (`migrations/*/0010`).
    async fn record_agent(&self, user: &str, at: DateTime<Utc>) -> Result<()>;

    /// True when `user` is a recorded agent.
    async fn is_agent(&self, user: &str) -> Result<bool>;

    /// Every recorded agent, by id, at most `limit` (capped at 10,000).
    async fn agents(&self, limit: u32) -> Result<Vec<String>>;
}

/// The support desk's tickets (`migrations/*/0008_support_tickets.sql`).
///
/// Writes are checked against the version they read: [`TicketData::replace_ticket`] names
/// the `updated_at` it saw and changes nothing when the stored ticket is newer, so the SLA
/// watcher and the support processor never overwrite each other's changes.
#[async_trait]
pub trait TicketData: Send + Sync + 'static {
    /// Keeps a new ticket; `false` (and nothing changed) when its id is taken.
    async fn create_ticket(&self, ticket: &Ticket, next_due: Option<DateTime<Utc>>)
    -> Result<bool>;

    /// Replaces the ticket when the stored one is still at `read_at` (its `updated_at` as
    /// read); `false` when it changed since (read it again) or is not there. `next_due` is
    /// when its SLA next moves a stage (`None`: never, it is solved).
    async fn replace_ticket(
        &self,
        ticket: &Ticket,
        read_at: DateTime<Utc>,
        next_due: Option<DateTime<Utc>>,
    ) -> Result<bool>;

    /// The ticket with this id (its conversation's).
    async fn ticket(&self, id: &str) -> Result<Option<Ticket>>;

    /// Tickets with `status`, most urgent first, then oldest first; at most `limit`.
    async fn tickets_in(&self, status: TicketStatus, limit: u32) -> Result<Vec<Ticket>>;

    /// A customer's tickets with `status` (any when `None`), newest first; at most `limit`.
    async fn tickets_of(
        &self,
        customer: &str,
        status: Option<TicketStatus>,
        limit: u32,
    ) -> Result<Vec<Ticket>>;

    /// Open tickets whose SLA moves a stage at or before `at`, soonest first; at most
    /// `limit`.
    async fn tickets_due(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<Ticket>>;
}

/// Trained models kept for every replica: each version's bytes, and per model name the version
/// served. Training publishes; every replica follows the served version; a rollback serves a
/// kept version again.
#[async_trait]
pub trait ModelArtifacts: Send + Sync + 'static {
    /// Keeps a new version with its bytes and, with `serve`, serves it, in one transaction;
    /// `false` (and nothing changed) when the version is taken.
    async fn publish_model(
        &self,
        artifact: &ModelArtifact,
        bytes: &[u8],
        serve: bool,
    ) -> Result<bool>;

    /// The versions kept of `name`, oldest first (without their bytes).
    async fn model_versions(&self, name: &str) -> Result<Vec<ModelArtifact>>;

    /// The bytes of a kept version, `None` when there is no such version.
    async fn model_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>>;

    /// The version of `name` served, if any.
    async fn serving_model(&self, name: &str) -> Result<Option<String>>;

    /// Serves a kept version; `false` (and nothing changed) when there is no such version.
    async fn serve_model(&self, name: &str, version: &str) -> Result<bool>;

    /// Forgets all but the newest `keep` versions of `name`, never the one served; returns how
    /// many were forgotten.
    async fn prune_models(&self, name: &str, keep: u32) -> Result<u64>;
}

/// Whether the store answers.
#[async_trait]
pub trait Health: Send + Sync + 'static {
    /// Cheap round trip used by readiness probes.
    async fn ping(&self) -> Result<()>;
}

/// A backend with every repository ([`SqlStore`]).
pub trait Store:
    MarketData
    + Watchlists
    + ProcessorStates
    + DeadLetters
    + RecommendData
    + ExperimentData
    + FeatureData
    + SupportData
    + TicketData
    + ModelArtifacts
    + AuditData
    + SignInData
    + Health
{
}

impl<
    T: MarketData
        + Watchlists
        + ProcessorStates
        + DeadLetters
        + RecommendData
        + ExperimentData
        + FeatureData
        + SupportData
        + TicketData
        + ModelArtifacts
        + AuditData
        + SignInData
        + Health,
> Store for T
{
}

/// Each repository as its callers take it: the schema market data and watchlists, the market
/// processor market data and states, the runtime dead letters, the probes health.
#[derive(Clone)]
pub struct Repositories {
    /// Quotes, candles, insights (behind the cache when there is one).
    pub market: Arc<dyn MarketData>,
    /// Watchlists.
    pub watchlists: Arc<dyn Watchlists>,
    /// Processor state.
    pub processor_states: Arc<dyn ProcessorStates>,
    /// Dead letters.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// The recommender's catalogue, profiles and interactions.
    pub recommend: Arc<dyn RecommendData>,
    /// The recommender's experiments.
    pub experiments: Arc<dyn ExperimentData>,
    /// The feature store's offline rows.
    pub features: Arc<dyn FeatureData>,
    /// The support desk's knowledge base and conversations.
    pub support: Arc<dyn SupportData>,
    /// The support desk's tickets.
    pub tickets: Arc<dyn TicketData>,
    /// Trained models kept for every replica.
    pub artifacts: Arc<dyn ModelArtifacts>,
    /// The audit trail.
    pub audit: Arc<dyn AuditData>,
    /// Sign-ins through an identity provider.
    pub sign_in: Arc<dyn SignInData>,
    /// Readiness.
    pub health: Arc<dyn Health>,
}

impl Repositories {
    /// Every repository of `store`.
    pub fn of<S: Store>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            market: store.clone(),
            watchlists: store.clone(),
            processor_states: store.clone(),
            dead_letters: store.clone(),
            recommend: store.clone(),
            experiments: store.clone(),
            features: store.clone(),
            support: store.clone(),
            tickets: store.clone(),
            artifacts: store.clone(),
            audit: store.clone(),
            sign_in: store.clone(),
            health: store,
        }
    }

    /// The same, with market data read and written through `market` (the cache).
    pub fn with_market(mut self, market: Arc<dyn MarketData>) -> Self {
        self.market = market;
        self
    }
}
