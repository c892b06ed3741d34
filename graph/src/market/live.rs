//! The market's live streams: each subscription is the fan-out channels it needs, decoded and
//! filtered, and declares how its results may travel in [`POLICIES`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Result, Subscription};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, future};
use serde::de::DeserializeOwned;
use tracing::warn;

use finpulse_bus::fanout::FanOutItem;
use finpulse_core::market;
use finpulse_market::events::{self, Channel, Published};

use super::recovery::{self, Delivered};
use super::types::{Candle, Insight, InsightKind, Tick};
use super::{symbol_arg, symbols_arg};
use crate::error::{ApiError, ApiResult, lagged_error};
use crate::policy::FieldPolicy;
use crate::{GraphContext, Need, Principal};

/// Market subscriptions.
#[derive(Debug, Default)]
pub struct MarketSubscription;

/// How each field below may travel ([`crate::policy`]); every field must have an entry.
pub(crate) const POLICIES: &[FieldPolicy] = &[
    // The latest trade per symbol supersedes older ones for a slow client.
    FieldPolicy::public("ticks").coalesced_by("symbol"),
    // The open candle of a symbol, updated per trade: the newest one is all that matters.
    FieldPolicy::public("candles").coalesced_by("symbol"),
    // Every insight matters: shared, never coalesced.
    FieldPolicy::public("insights"),
    // Follows the caller's own watchlist.
    FieldPolicy::per_user("watchlistInsights"),
];

fn decode<T: DeserializeOwned>(channel_kind: &str, bytes: &[u8]) -> Option<Published<T>> {
    match serde_json::from_slice(bytes) {
        Ok(message) => Some(message),
        Err(e) => {
            warn!(kind = channel_kind, error = %e, "skipping undecodable fan-out message");
            None
        }
    }
}

/// The watched set; a poisoned lock (a panic elsewhere) still holds a usable set.
fn lock(watched: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One subscription to each channel, merged; refused as a whole when the replica cannot open
/// them all.
fn merged(
    graph: &GraphContext,
    channels: impl IntoIterator<Item = Channel>,
) -> Result<BoxStream<'static, FanOutItem>, ApiError> {
    let streams = channels
        .into_iter()
        .map(|c| graph.fanout.try_subscribe(&c.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::from)?;
    Ok(stream::select_all(streams).boxed())
}

/// Refuses symbols the platform knows nothing of: neither configured nor with stored market
/// data. Without it every invented name would open a fan-out channel of its own.
async fn known_symbols(graph: &GraphContext, symbols: &[String]) -> Result<(), ApiError> {
    if symbols.iter().all(|s| graph.instruments.contains(s)) {
        return Ok(());
    }
    let stored: HashSet<String> = graph
        .market
        .symbols()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .collect();
    match symbols
        .iter()
        .find(|s| !graph.instruments.contains(*s) && !stored.contains(*s))
    {
        Some(unknown) => Err(ApiError::BadUserInput(format!(
            "unknown symbol `{unknown}`: it has no market data here"
        ))),
        None => Ok(()),
    }
}

fn kinds_filter(kinds: Option<Vec<InsightKind>>) -> Option<HashSet<InsightKind>> {
    kinds
        .filter(|k| !k.is_empty())
        .map(|k| k.into_iter().collect())
}

enum WatchlistEvent {
    Insight(FanOutItem),
    Changed(Vec<String>),
}

#[Subscription]
impl MarketSubscription {
    /// Every trade of the given symbols. A slow client gets the latest trade per symbol
    /// rather than every one.
    async fn ticks(
        &self,
        ctx: &Context<'_>,
        symbols: Vec<String>,
    ) -> Result<impl Stream<Item = Tick>> {
        let symbols = symbols_arg(&symbols)?;
        let graph = ctx.data::<GraphContext>()?;
        known_symbols(graph, &symbols).await?;
        Ok(
            merged(graph, symbols.iter().cloned().map(Channel::Ticks))?.filter_map(|item| {
                future::ready(match item {
                    FanOutItem::Message(bytes) => {
                        decode::<events::Tick>("tick", &bytes).map(Tick::from)
                    }
                    FanOutItem::Lagged(_) => None,
                })
            }),
        )
    }

    /// Updates of the open candle of a symbol (each trade), then its successors.
    async fn candles(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        #[graphql(default = 60)] interval: i32,
    ) -> Result<impl Stream<Item = Candle>> {
        let symbol = symbol_arg(&symbol)?;
        if interval != 60 {
            return Err(
                ApiError::BadUserInput("live candles are built at interval 60".into()).into(),
            );
        }
        let graph = ctx.data::<GraphContext>()?;
        known_symbols(graph, std::slice::from_ref(&symbol)).await?;
        Ok(merged(
            graph,
            [Channel::Candles(symbol.clone(), i64::from(interval))],
        )?
        .filter_map(|item| {
            future::ready(match item {
                FanOutItem::Message(bytes) => {
                    decode::<market::Candle>("candle", &bytes).map(Candle::from)
                }
                FanOutItem::Lagged(_) => None,
            })
        }))
    }

    /// Insights as they are found, for some symbols (all when omitted) and kinds (all when
    /// omitted), each once (a redelivered repeat is dropped by id). Insights are never skipped
    /// silently: after a gap (the subscription fell behind, or this server lost the fan-out for
    /// a while) the missed ones are replayed from the store; where that cannot be done the
    /// subscription receives an error with code `LAGGED` saying how many it missed.
    async fn insights(
        &self,
        ctx: &Context<'_>,
        symbols: Option<Vec<String>>,
        kinds: Option<Vec<InsightKind>>,
    ) -> Result<impl Stream<Item = ApiResult<Insight>>> {
        let graph = ctx.data::<GraphContext>()?;
        // The symbols are kept as they are, for a replay after a gap; the channels follow them.
        let symbol_list: Vec<String> = match symbols {
            Some(symbols) => {
                let symbols = symbols_arg(&symbols)?;
                known_symbols(graph, &symbols).await?;
                symbols
            }
            None => Vec::new(),
        };
        let channels: Vec<Channel> = if symbol_list.is_empty() {
            vec![Channel::AllInsights]
        } else {
            symbol_list.iter().cloned().map(Channel::Insights).collect()
        };
        let kinds = Arc::new(kinds_filter(kinds));
        let kind_list: Vec<InsightKind> = kinds.iter().flatten().copied().collect();
        let (store, delivered) = (graph.market.clone(), Arc::new(Mutex::new(Delivered::new())));
        Ok(merged(graph, channels)?
            .then(move |item| {
                let (store, delivered, kinds) = (store.clone(), delivered.clone(), kinds.clone());
                let (symbol_list, kind_list) = (symbol_list.clone(), kind_list.clone());
                async move {
                    let accept =
                        |i: &Insight| kinds.as_ref().as_ref().is_none_or(|k| k.contains(&i.kind));
                    match item {
                        FanOutItem::Message(bytes) => decode::<market::Insight>("insight", &bytes)
                            .map(Insight::from)
                            .filter(|i| accept(i) && recovery::lock(&delivered).admit(i))
                            .map(|i| vec![Ok(i)])
                            .unwrap_or_default(),
                        FanOutItem::Lagged(missed) => {
                            recovery::replay(&store, &delivered, &symbol_list, &kind_list, accept)
                                .await
                                .unwrap_or_else(|| vec![Err(lagged_error(missed, "insights"))])
                        }
                    }
                }
            })
            .flat_map(stream::iter))
    }

    /// Insights of the symbols on the signed-in user's watchlist, following the list as it
    /// changes.
    #[graphql(guard = "Need::customer(\"watchlist:read\")")]
    async fn watchlist_insights(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<InsightKind>>,
    ) -> Result<impl Stream<Item = ApiResult<Insight>>> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let graph = ctx.data::<GraphContext>()?;
        let insights = graph
            .fanout
            .try_subscribe(&Channel::AllInsights.name())
            .map_err(ApiError::from)?
            .map(WatchlistEvent::Insight);
        // The book subscribes to the list's changes before it reads it, so none is lost.
        let followed = graph
            .watchlists
            .follow(&user)
            .await
            .map_err(ApiError::from)?;
        let changes = followed.changes.map(WatchlistEvent::Changed);
        let kinds = Arc::new(kinds_filter(kinds));
        let watched = Arc::new(Mutex::new(
            followed.current.into_iter().collect::<HashSet<String>>(),
        ));
        Ok(stream::select(changes, insights).filter_map(move |event| {
            future::ready(match event {
                WatchlistEvent::Changed(list) => {
                    *lock(&watched) = list.into_iter().collect();
                    None
                }
                WatchlistEvent::Insight(FanOutItem::Message(bytes)) => {
                    decode::<market::Insight>("insight", &bytes)
                        .filter(|p| lock(&watched).contains(&p.body.symbol))
                        .map(Insight::from)
                        .filter(|i| kinds.as_ref().as_ref().is_none_or(|k| k.contains(&i.kind)))
                        .map(Ok)
                }
                WatchlistEvent::Insight(FanOutItem::Lagged(missed)) => {
                    Some(Err(lagged_error(missed, "insights")))
                }
            })
        }))
    }
}
