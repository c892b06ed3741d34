//! Changes to per-user state.

use async_graphql::{Context, Object};
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::query::symbol_arg;
use finpulse_market::events::Channel;

use crate::{GraphContext, Need, Principal};

/// The watchlist as the fan-out carries it to live `watchlistInsights` subscriptions.
fn encode_list(symbols: &[String]) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(symbols).expect("strings serialise"))
}

/// The root of mutations.
#[derive(Debug, Default)]
pub struct MutationRoot;

/// How many symbols one watchlist may hold.
const MAX_WATCHLIST: usize = 200;

#[Object]
impl MutationRoot {
    /// Adds a symbol to the signed-in user's watchlist; returns the list.
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    #[graphql(guard = "Need::customer(\"watchlist:write\")")]
    async fn add_to_watchlist(&self, ctx: &Context<'_>, symbol: String) -> ApiResult<Vec<String>> {
        let user = ctx.data::<Principal>()?.require_user()?;
        let symbol = symbol_arg(&symbol)?;
        let graph = ctx.data::<GraphContext>()?;
        let current = graph
            .watchlists
            .watchlist(user)
            .await
            .map_err(ApiError::from)?;
        if current.len() >= MAX_WATCHLIST && !current.contains(&symbol) {
            return Err(ApiError::BadUserInput(format!(
                "a watchlist holds at most {MAX_WATCHLIST} symbols"
            ))
            .into());
        }
        let list = graph
            .watchlists
            .add_to_watchlist(user, &symbol)
            .await
            .map_err(ApiError::from)?;
        announce(graph, user, &list).await?;
        Ok(list)
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
        let list = graph
            .watchlists
            .remove_from_watchlist(user, &symbol)
            .await
            .map_err(ApiError::from)?;
        announce(graph, user, &list).await?;
        Ok(list)
    }
}

async fn announce(graph: &GraphContext, user: &str, list: &[String]) -> Result<(), ApiError> {
    graph
        .fanout
        .publish(
            &Channel::Watchlist(user.to_owned()).name(),
            encode_list(list),
        )
        .await
        .map_err(ApiError::from)
}
