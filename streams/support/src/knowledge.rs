//! The knowledge base edited live: operators add, change and remove FAQ entries while the desk
//! runs, and every replica that answers customers re-indexes.
//!
//! An edit is checked ([`crate::faq::validate`]), written to the store, then announced on the
//! fan-out's FAQ channel; each answering replica ([`SupportDesk::run_knowledge_follow`], where
//! processors run) rebuilds its responder from the store on the announcement. Several edits
//! arriving during one rebuild cost one more rebuild, not one each, and a rebuild re-embeds only
//! the passages whose text changed (the dense models remember the rest), so an edit is live
//! within about a second. Messages answered meanwhile finish on the previous index.

use std::sync::Arc;

use bytes::Bytes;
use finpulse_bus::fanout::FanOutItem;
use finpulse_core::support::FaqEntry;
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::SupportError;
use crate::desk::SupportDesk;
use crate::events::faq_channel;

/// The entries of one language, or of every language, at most this many at once.
pub const MAX_LISTED: usize = 10_000;

impl SupportDesk {
    /// The knowledge base's entries (every language, or `language`'s), by id then language.
    pub async fn faq_entries(&self, language: Option<&str>) -> Result<Vec<FaqEntry>, SupportError> {
        let mut entries = self.store().faq_entries().await?;
        if let Some(language) = language {
            entries.retain(|entry| entry.language == language);
        }
        entries.truncate(MAX_LISTED);
        Ok(entries)
    }

    /// Adds an entry, or replaces the one with its id and language, and announces the change.
    pub async fn put_faq_entry(&self, entry: FaqEntry) -> Result<FaqEntry, SupportError> {
        crate::faq::validate(&entry).map_err(SupportError::InvalidInput)?;
        self.store()
            .upsert_faq_entries(std::slice::from_ref(&entry))
            .await?;
        self.announce_knowledge_change().await?;
        info!(id = %entry.id, language = %entry.language, "faq entry written");
        Ok(entry)
    }

    /// Removes an entry in one language, or in all of them, and announces the change; returns
    /// how many language versions went. `NotFound` when there was none.
    pub async fn delete_faq_entry(
        &self,
        id: &str,
        language: Option<&str>,
    ) -> Result<u64, SupportError> {
        let removed = self.store().delete_faq_entry(id, language).await?;
        if removed == 0 {
            return Err(SupportError::NotFound(format!(
                "no faq entry {}{}",
                id.chars().take(64).collect::<String>(),
                language.map(|l| format!(" in {l}")).unwrap_or_default()
            )));
        }
        self.announce_knowledge_change().await?;
        info!(id, ?language, removed, "faq entry removed");
        Ok(removed)
    }

    async fn announce_knowledge_change(&self) -> Result<(), SupportError> {
        self.fanout()
            .publish(&faq_channel(), Bytes::from_static(b"changed"))
            .await
            .map_err(SupportError::from)
    }

    /// Re-indexes whenever a change of the knowledge base is announced, until `shutdown`.
    /// Subscribes before it returns, so no change announced after the call is missed. A failed
    /// rebuild is logged and the previous index keeps answering.
    pub fn run_knowledge_follow(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut changes = self.fanout().subscribe(&faq_channel());
        async move {
            loop {
                let announced = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = changes.next() => next,
                };
                match announced {
                    // A skipped announcement is still a change.
                    Some(FanOutItem::Message(_) | FanOutItem::Lagged(_)) => {}
                    None => return,
                }
                // Announcements that came during the wait are covered by this rebuild.
                while let Some(Some(_)) = changes.next().now_or_never() {}
                match self.reindex().await {
                    Ok(responder) => info!(
                        entries = responder.index().entries().len(),
                        "faq re-indexed after a change"
                    ),
                    Err(error) => {
                        warn!(%error, "failed to re-index the faq; the previous index keeps answering")
                    }
                }
            }
        }
    }
}
