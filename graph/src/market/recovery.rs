//! Catching an insight subscription up after a gap.
//!
//! When the fan-out says a subscription may have missed messages (it fell behind, or its
//! replica was cut off from Redis for a while), the missed insights are read back from the
//! store, which every insight reaches before it is published: everything at or after the
//! newest insight the subscription delivered, minus what it already delivered (by id). Only a
//! subscription that has delivered nothing yet, or a gap too long to replay, falls back to a
//! `LAGGED` error telling the client to refetch.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use finpulse_store::MarketData;
use tracing::warn;

use super::types::{Insight, InsightKind};
use crate::error::ApiResult;

/// Most insights replayed after one gap; a longer gap is reported as `LAGGED` too.
pub const REPLAY_LIMIT: u32 = 500;
/// Ids remembered to drop repeats.
const REMEMBERED: usize = 1024;

/// What an insight subscription has delivered.
pub struct Delivered {
    newest: Option<DateTime<Utc>>,
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Delivered {
    pub fn new() -> Self {
        Self {
            newest: None,
            // Grown as insights arrive: most subscriptions see far fewer than `REMEMBERED`, and
            // reserving it up front would cost every subscription tens of kilobytes.
            order: VecDeque::new(),
            ids: HashSet::new(),
        }
    }

    /// Records `insight` as delivered; false when it already was (a redelivery).
    pub fn admit(&mut self, insight: &Insight) -> bool {
        if !self.ids.insert(insight.id.clone()) {
            return false;
        }
        self.order.push_back(insight.id.clone());
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.newest = Some(self.newest.map_or(insight.ts, |n| n.max(insight.ts)));
        true
    }

    /// Market time of the newest insight delivered.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.newest
    }
}

/// The insights to deliver after a gap, or `None` when they cannot be replayed and the client
/// must be told instead.
pub async fn replay(
    store: &Arc<dyn MarketData>,
    delivered: &std::sync::Mutex<Delivered>,
    symbols: &[String],
    kinds: &[InsightKind],
    accept: impl Fn(&Insight) -> bool,
) -> Option<Vec<ApiResult<Insight>>> {
    let since = lock(delivered).newest()?;
    let missed = match store
        .insights_since(symbols, kinds, since, REPLAY_LIMIT)
        .await
    {
        Ok(missed) => missed,
        Err(e) => {
            warn!(error = %e, "failed to replay missed insights");
            return None;
        }
    };
    if missed.len() >= REPLAY_LIMIT as usize {
        return None;
    }
    let mut delivered = lock(delivered);
    Some(
        missed
            .into_iter()
            .map(Insight::from)
            .filter(|i| accept(i) && delivered.admit(i))
            .map(Ok)
            .collect(),
    )
}

/// The delivered set; a poisoned lock (a panic elsewhere) still holds a usable set.
pub fn lock(delivered: &std::sync::Mutex<Delivered>) -> std::sync::MutexGuard<'_, Delivered> {
    delivered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::types::InsightKind;
    use async_graphql::Json;
    use chrono::TimeZone;

    fn insight(id: &str, ms: i64) -> Insight {
        Insight {
            id: id.into(),
            symbol: "AAPL".into(),
            kind: InsightKind::parse("VOLUME_SPIKE").expect("a kind"),
            severity: "notice".into(),
            message: String::new(),
            ts: Utc.timestamp_millis_opt(ms).unwrap(),
            indicators: Json(serde_json::json!({})),
            published_at: None,
        }
    }

    #[test]
    fn repeats_are_dropped_and_the_newest_time_kept_within_a_bounded_memory() {
        let mut delivered = Delivered::new();
        assert_eq!(delivered.newest(), None);
        assert!(delivered.admit(&insight("a", 5)));
        assert!(!delivered.admit(&insight("a", 5)), "a repeat");
        assert!(delivered.admit(&insight("b", 3)));
        assert_eq!(
            delivered.newest(),
            Some(Utc.timestamp_millis_opt(5).unwrap())
        );
        for i in 0..REMEMBERED {
            delivered.admit(&insight(&format!("x{i}"), 6));
        }
        assert_eq!(delivered.ids.len(), REMEMBERED);
        assert!(
            delivered.admit(&insight("a", 5)),
            "forgotten after {REMEMBERED} others"
        );
    }
}
