//! Each user's watchlist: the symbols they follow, kept by the store and announced on the
//! fan-out so that every live subscription of that user, on any gateway replica, follows it.
//!
//! The schema's mutations and subscriptions go through [`WatchlistBook`] only: no resolver
//! writes a list or publishes a change itself, so the size limit, the announcement after every
//! change and the order "subscribe to changes, then read the list" live in one place.

use std::sync::Arc;

use bytes::Bytes;
use finpulse_bus::StreamError;
use finpulse_bus::fanout::{FanOut, FanOutItem};
use finpulse_store::{StoreError, Watchlists};
use futures::stream::BoxStream;
use futures::{StreamExt, future};
use tracing::warn;

use crate::events::Channel;

/// How many symbols one watchlist may hold.
pub const MAX_WATCHLIST: usize = 200;

/// What can go wrong with a watchlist.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchlistError {
    /// The list is full and the symbol is not on it.
    #[error("a watchlist holds at most {max} symbols")]
    Full {
        /// The limit.
        max: usize,
    },
    /// The store failed.
    #[error("failed to read or write a watchlist")]
    Store(#[from] StoreError),
    /// The fan-out failed (or refused a subscription past this replica's bound).
    #[error("failed to announce or follow a watchlist")]
    FanOut(#[from] StreamError),
}

impl finpulse_core::error::ServiceError for WatchlistError {
    fn error_code(&self) -> finpulse_core::error::ErrorCode {
        match self {
            Self::Full { .. } => finpulse_core::error::ErrorCode::BadUserInput,
            // A refused subscription is the fan-out's bound: the fan-out says how to react.
            Self::FanOut(e) => e.error_code(),
            Self::Store(_) => finpulse_core::error::ErrorCode::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Self::FanOut(e) => e.client_message(),
            other => other.to_string(),
        }
    }
}

/// Users' watchlists: stored, bounded and announced on every change.
#[derive(Clone)]
pub struct WatchlistBook {
    lists: Arc<dyn Watchlists>,
    fanout: Arc<dyn FanOut>,
}

impl std::fmt::Debug for WatchlistBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchlistBook").finish_non_exhaustive()
    }
}

/// A user's list now, and every later version of it.
pub struct Followed {
    /// The list when following began.
    pub current: Vec<String>,
    /// The list after each change from then on (after a missed announcement, re-read from the
    /// store). Never ends while the fan-out lives.
    pub changes: BoxStream<'static, Vec<String>>,
}

impl WatchlistBook {
    /// The book over `lists`, announcing on `fanout`.
    pub fn new(lists: Arc<dyn Watchlists>, fanout: Arc<dyn FanOut>) -> Self {
        Self { lists, fanout }
    }

    /// The symbols on `user`'s list, in the order they were added.
    pub async fn list(&self, user: &str) -> Result<Vec<String>, WatchlistError> {
        Ok(self.lists.watchlist(user).await?)
    }

    /// Adds `symbol` (already validated) to `user`'s list; returns the list.
    pub async fn add(&self, user: &str, symbol: &str) -> Result<Vec<String>, WatchlistError> {
        let current = self.lists.watchlist(user).await?;
        if current.len() >= MAX_WATCHLIST && !current.iter().any(|s| s == symbol) {
            return Err(WatchlistError::Full { max: MAX_WATCHLIST });
        }
        let list = self.lists.add_to_watchlist(user, symbol).await?;
        self.announce(user, &list).await?;
        Ok(list)
    }

    /// Removes `symbol` from `user`'s list; returns the list.
    pub async fn remove(&self, user: &str, symbol: &str) -> Result<Vec<String>, WatchlistError> {
        let list = self.lists.remove_from_watchlist(user, symbol).await?;
        self.announce(user, &list).await?;
        Ok(list)
    }

    /// Follows `user`'s list on a client's behalf (bounded like every client subscription).
    pub async fn follow(&self, user: &str) -> Result<Followed, WatchlistError> {
        // Subscribe to changes before reading the list, so no change falls in between.
        let announcements = self
            .fanout
            .try_subscribe(&Channel::Watchlist(user.to_owned()).name())?;
        let current = self.lists.watchlist(user).await?;
        let (lists, user) = (self.lists.clone(), user.to_owned());
        let changes = announcements
            .then(move |item| {
                let (lists, user) = (lists.clone(), user.clone());
                async move {
                    if let FanOutItem::Message(bytes) = &item
                        && let Ok(list) = serde_json::from_slice::<Vec<String>>(bytes)
                    {
                        return Some(list);
                    }
                    // A change may have been missed (or arrived unreadable): read the list again.
                    match lists.watchlist(&user).await {
                        Ok(list) => Some(list),
                        Err(e) => {
                            warn!(error = %e, "failed to re-read a watchlist");
                            None
                        }
                    }
                }
            })
            .filter_map(future::ready)
            .boxed();
        Ok(Followed { current, changes })
    }

    async fn announce(&self, user: &str, list: &[String]) -> Result<(), WatchlistError> {
        let message = Bytes::from(serde_json::to_vec(list).expect("strings serialise"));
        self.fanout
            .publish(&Channel::Watchlist(user.to_owned()).name(), message)
            .await?;
        Ok(())
    }
}
