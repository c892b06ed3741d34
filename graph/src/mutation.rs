//! Changes to per-user state.

use async_graphql::{Context, Object};
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::query::symbol_arg;

use crate::{GraphContext, Need, Principal};

/// The root of mutations: the watchlist's and the recommender's.
#[derive(Debug, Default, async_graphql::MergedObject)]
pub struct MutationRoot(
    WatchlistMutation,
    crate::recommend::RecommendMutation,
    crate::experiments::ExperimentMutation,
    crate::support::SupportMutation,
    crate::faq::FaqMutation,
    crate::tickets::TicketMutation,
);

/// Watchlist mutations.
#[derive(Debug, Default)]
pub struct WatchlistMutation;

#[Object]
impl WatchlistMutation {
    /// Adds a symbol to the signed-in user's watchlist; returns the list.
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    #[graphql(guard = "Need::customer(\"watchlist:write\")")]
    async fn add_to_watchlist(&self, ctx: &Context<'_>, symbol: String) -> ApiResult<Vec<String>> {
        let user = ctx.data::<Principal>()?.require_user()?;
        let symbol = symbol_arg(&symbol)?;
        let graph = ctx.data::<GraphContext>()?;
        Ok(graph
            .watchlists
            .add(user, &symbol)
            .await
            .map_err(ApiError::from)?)
    }

    /// Removes a symbol from the signed-in user's watchlist; returns the list.
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    #[graphql(guard = "Need::customer(\"watchlist:write\")")]
    async fn remove_from_watchlist(
        &self,
        ctx: &Context<'_>,
        symbol: String,
    ) -> ApiResult<Vec<String>> {
        let user = ctx.data::<Principal>()?.require_user()?;
        let symbol = symbol_arg(&symbol)?;
        let graph = ctx.data::<GraphContext>()?;
        Ok(graph
            .watchlists
            .remove(user, &symbol)
            .await
            .map_err(ApiError::from)?)
    }
}
