//! The finpulse GraphQL schema.
//!
//! Queries read the store, mutations change per-user state, subscriptions are filtered streams
//! from the fan-out. One module per domain ([`market`], [`recommend`], [`support`]), each
//! holding its queries, mutations and subscriptions with their policies; the roots below join
//! them. Nothing here knows about HTTP or WebSockets: the gateway executes requests
//! against [`FinpulseSchema`] with a [`Principal`] in the request data, and decides how results
//! travel.

pub mod ai;
pub mod audit;
mod codes;
mod error;
pub mod limits;
pub mod market;
pub mod policy;
mod principal;
pub mod recommend;
pub mod support;
#[cfg(feature = "test-support")]
pub mod testing;

pub use error::ApiError;
pub use market::{Candle, Insight, InsightKind, Quote, Tick};
pub use principal::{Caller, Need, Principal, Role};

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};
use finpulse_bus::FanOut;
use finpulse_market::watchlist::WatchlistBook;
use finpulse_recommend::service::RecommendService;
use finpulse_store::{MarketData, Repositories};

use policy::FieldPolicy;

/// The root of queries: each domain's, the inference layer's and the audit trail's.
#[derive(Debug, Default, MergedObject)]
pub struct QueryRoot(
    market::MarketQuery,
    ai::AiQuery,
    recommend::RecommendQuery,
    recommend::experiments::ExperimentQuery,
    support::SupportQuery,
    support::faq::FaqQuery,
    support::tickets::TicketQuery,
    audit::AuditQuery,
);

/// The root of mutations: each domain's.
#[derive(Debug, Default, MergedObject)]
pub struct MutationRoot(
    market::WatchlistMutation,
    recommend::RecommendMutation,
    recommend::experiments::ExperimentMutation,
    support::SupportMutation,
    support::faq::FaqMutation,
    support::tickets::TicketMutation,
);

/// The root of subscriptions: each domain's.
#[derive(Debug, Default, MergedSubscription)]
pub struct SubscriptionRoot(
    market::MarketSubscription,
    recommend::RecommendSubscription,
    recommend::experiments::ExperimentSubscription,
    support::SupportSubscription,
    support::tickets::TicketSubscription,
);

/// Every subscription field's policy, as each module declares it beside its fields (one list
/// per part of [`SubscriptionRoot`]).
pub(crate) const POLICIES: &[&[FieldPolicy]] = &[
    market::live::POLICIES,
    recommend::POLICIES,
    recommend::experiments::POLICIES,
    support::live::POLICIES,
    support::tickets::POLICIES,
];

/// The executable schema.
pub type FinpulseSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Most total field cost a query may have (each field costs 1, lists multiply by their limit).
pub const MAX_COMPLEXITY: usize = 10_000;

/// What resolvers reach: storage and the fan-out.
#[derive(Clone)]
pub struct GraphContext {
    /// Quotes, candles and insights (behind the cache when there is one).
    pub market: Arc<dyn MarketData>,
    /// Users' watchlists, announced on the fan-out after every change.
    pub watchlists: WatchlistBook,
    /// Where live results arrive.
    pub fanout: Arc<dyn FanOut>,
    /// Symbols live subscriptions may name before any market data of theirs is stored (the
    /// simulator's and the configured instruments); any symbol with stored data is known too.
    pub instruments: Arc<HashSet<String>>,
    /// The recommender, when this server runs one.
    pub recommend: Option<Arc<RecommendService>>,
    /// The support desk, when this server runs one.
    pub support: Option<Arc<finpulse_support::SupportDesk>>,
    /// The audit trail agents' and admins' reads and changes go to.
    pub audit: Arc<dyn finpulse_store::AuditData>,
}

impl GraphContext {
    /// What resolvers reach, over the store's `repositories` and `fanout`; live subscriptions
    /// may name `instruments` before any of their data is stored.
    pub fn new(
        repositories: &Repositories,
        fanout: Arc<dyn FanOut>,
        instruments: HashSet<String>,
    ) -> Self {
        Self {
            market: repositories.market.clone(),
            audit: repositories.audit.clone(),
            watchlists: WatchlistBook::new(repositories.watchlists.clone(), fanout.clone()),
            fanout,
            instruments: Arc::new(instruments),
            recommend: None,
            support: None,
        }
    }

    /// The same, serving `service`'s recommendations.
    pub fn with_recommender(mut self, service: Arc<RecommendService>) -> Self {
        self.recommend = Some(service);
        self
    }

    /// The same, serving `desk`'s conversations.
    pub fn with_support(mut self, desk: Arc<finpulse_support::SupportDesk>) -> Self {
        self.support = Some(desk);
        self
    }
}

/// Builds the schema; the caller may add data or extensions before `finish()`.
pub fn schema_builder(
    context: GraphContext,
) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(context)
    // Depth, size and fragment expansion are bounded by `limits::prepare` before a request
    // gets here (async-graphql's own depth limit would count introspection and refuse
    // GraphiQL's schema query).
    .limit_complexity(MAX_COMPLEXITY)
    .extension(codes::ValidationCodes)
}

/// The schema in the GraphQL schema definition language: what `finpulse schema` prints and
/// what typed clients (the web dashboard's operations) are generated from. The types alone
/// decide it, so no store or fan-out is needed.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .finish()
    .sdl()
}

/// Builds the finished schema.
pub fn build_schema(context: GraphContext) -> FinpulseSchema {
    schema_builder(context).finish()
}
