//! The market's API: quotes, candles and insights to read, the signed-in user's watchlist to
//! change, and the live streams of both ([`live`], with their fan-out policies).
//!
//! The types it shows are in [`types`]; [`recovery`] replays the insights a live subscription
//! missed during a gap.

pub(crate) mod live;
mod recovery;
pub(crate) mod types;

pub use live::MarketSubscription;
pub use types::{Candle, Insight, InsightKind, Quote, Tick};

use std::collections::HashSet;

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::{GraphContext, Need, Principal};

/// Upper bound of list arguments, so a single query cannot ask for an unbounded result.
const MAX_LIST: i32 = 1_000;

/// Checks and normalises a ticker symbol by the one rule of events and replay
/// ([`finpulse_market::events::check_symbol`]), after upper-casing what the client typed.
fn symbol_arg(symbol: &str) -> Result<String, ApiError> {
    let symbol = symbol.trim().to_ascii_uppercase();
    finpulse_market::events::check_symbol(&symbol).map_err(ApiError::BadUserInput)?;
    Ok(symbol)
}

/// Most symbols one request may name.
const MAX_SYMBOLS: usize = 100;

/// Checks, normalises and de-duplicates a list of 1 to [`MAX_SYMBOLS`] symbols.
fn symbols_arg(symbols: &[String]) -> Result<Vec<String>, ApiError> {
    if symbols.is_empty() || symbols.len() > MAX_SYMBOLS {
        return Err(ApiError::BadUserInput(format!(
            "`symbols` must name 1 to {MAX_SYMBOLS} symbols"
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for symbol in symbols {
        let symbol = symbol_arg(symbol)?;
        if seen.insert(symbol.clone()) {
            out.push(symbol);
        }
    }
    Ok(out)
}

fn limit_arg(name: &str, value: i32) -> Result<u32, ApiError> {
    if (1..=MAX_LIST).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ApiError::BadUserInput(format!(
            "`{name}` must be between 1 and {MAX_LIST}, got {value}"
        )))
    }
}

/// Market data and per-user queries.
#[derive(Debug, Default)]
pub struct MarketQuery;

#[Object]
impl MarketQuery {
    /// Every symbol with market data.
    async fn symbols(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        let graph = ctx.data::<GraphContext>()?;
        Ok(graph.market.symbols().await.map_err(ApiError::from)?)
    }

    /// The latest quote of a symbol, or null when it has none.
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    async fn quote(&self, ctx: &Context<'_>, symbol: String) -> ApiResult<Option<Quote>> {
        let symbol = symbol_arg(&symbol)?;
        let graph = ctx.data::<GraphContext>()?;
        Ok(graph
            .market
            .quote(&symbol)
            .await
            .map_err(ApiError::from)?
            .map(Quote::from))
    }

    /// Closed and open candles of a symbol starting in `[from, to)`, oldest first: at most
    /// `limit`, the latest ones. Without `from` and `to`, the latest candles whenever they were
    /// (a replayed history included).
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    #[graphql(complexity = "limit.clamp(0, MAX_LIST) as usize * child_complexity")]
    async fn candles(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        #[graphql(default = 60, desc = "bar length in seconds; 60 is built")] interval: i32,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(default = 500)] limit: i32,
    ) -> ApiResult<Vec<Candle>> {
        let symbol = symbol_arg(&symbol)?;
        let limit = limit_arg("limit", limit)?;
        let to = to.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let from = from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        if from > to {
            return Err(ApiError::BadUserInput("`from` must not be after `to`".into()).into());
        }
        let graph = ctx.data::<GraphContext>()?;
        let candles = graph
            .market
            .candles(&symbol, i64::from(interval), from, to, limit)
            .await
            .map_err(ApiError::from)?;
        Ok(candles.into_iter().map(Candle::from).collect())
    }

    /// The latest insights of a symbol, newest first, optionally of some kinds only.
    #[instrument(skip_all, fields(symbol = %symbol), err(Debug))]
    #[graphql(complexity = "last.clamp(0, MAX_LIST) as usize * child_complexity")]
    async fn insights(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        kinds: Option<Vec<InsightKind>>,
        #[graphql(default = 20)] last: i32,
    ) -> ApiResult<Vec<Insight>> {
        let symbol = symbol_arg(&symbol)?;
        let last = limit_arg("last", last)?;
        let kinds = kinds.unwrap_or_default();
        let graph = ctx.data::<GraphContext>()?;
        let insights = graph
            .market
            .insights(&symbol, &kinds, last)
            .await
            .map_err(ApiError::from)?;
        Ok(insights.into_iter().map(Insight::from).collect())
    }

    /// Insights at or after `since` (market time), oldest first, at most `limit`: of `symbols`
    /// (all when omitted) and `kinds` (all when omitted). What a client that was away (a
    /// dropped connection, a closed tab) reads to catch up while its `insights` subscription
    /// carries on; ids tell repeats apart.
    #[instrument(skip_all, err(Debug))]
    #[graphql(complexity = "limit.clamp(0, MAX_LIST) as usize * child_complexity")]
    async fn insights_since(
        &self,
        ctx: &Context<'_>,
        since: DateTime<Utc>,
        symbols: Option<Vec<String>>,
        kinds: Option<Vec<InsightKind>>,
        #[graphql(default = 200)] limit: i32,
    ) -> ApiResult<Vec<Insight>> {
        let symbols = match symbols {
            Some(symbols) => symbols_arg(&symbols)?,
            None => Vec::new(),
        };
        let limit = limit_arg("limit", limit)?;
        let kinds = kinds.unwrap_or_default();
        let graph = ctx.data::<GraphContext>()?;
        let insights = graph
            .market
            .insights_since(&symbols, &kinds, since, limit)
            .await
            .map_err(ApiError::from)?;
        Ok(insights.into_iter().map(Insight::from).collect())
    }

    /// The latest quotes of `symbols`, in their order; a symbol with no trade yet is left out.
    #[instrument(skip_all, err(Debug))]
    #[graphql(complexity = "symbols.len() * child_complexity")]
    async fn quotes(&self, ctx: &Context<'_>, symbols: Vec<String>) -> ApiResult<Vec<Quote>> {
        let symbols = symbols_arg(&symbols)?;
        let graph = ctx.data::<GraphContext>()?;
        let reads = symbols.iter().map(|symbol| graph.market.quote(symbol));
        let quotes = futures::future::try_join_all(reads)
            .await
            .map_err(ApiError::from)?;
        Ok(quotes.into_iter().flatten().map(Quote::from).collect())
    }

    /// The signed-in user's watchlist.
    #[graphql(guard = "Need::customer(\"watchlist:read\")")]
    async fn watchlist(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        let user = ctx.data::<Principal>()?.require_user()?;
        let graph = ctx.data::<GraphContext>()?;
        Ok(graph.watchlists.list(user).await.map_err(ApiError::from)?)
    }

    /// The signed-in user's id, or null for anonymous access.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(ctx.data::<Principal>()?.subject.clone())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_normalised_and_checked() {
        assert_eq!(symbol_arg(" aapl ").unwrap(), "AAPL");
        assert_eq!(symbol_arg("BTC-USD").unwrap(), "BTC-USD");
        assert!(symbol_arg("").is_err());
        assert!(symbol_arg("DROP TABLE").is_err());
        assert!(symbol_arg(&"A".repeat(33)).is_err());
    }
}
