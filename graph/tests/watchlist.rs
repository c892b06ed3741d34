//! The watchlist subscription over the real schema, SQLite store and in-process fan-out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use finpulse_bus::{FanOut, LocalFanOut};
use finpulse_core::market::{Insight, InsightKind};
use finpulse_graph::{GraphContext, Principal, build_schema};
use finpulse_market::events::{ALL_INSIGHTS_CHANNEL, Channel, Published};
use finpulse_store::{Repositories, SqlStore};
use futures::StreamExt;

fn insight(symbol: &str) -> bytes::Bytes {
    let body = Insight {
        id: format!("{symbol}:VOLUME_SPIKE:0"),
        symbol: symbol.into(),
        kind: InsightKind::VolumeSpike,
        severity: "notice".into(),
        message: format!("{symbol} traded a lot"),
        ts: Utc.timestamp_millis_opt(0).unwrap(),
        indicators: serde_json::json!({}),
    };
    let message = Published {
        published_at: Utc::now(),
        event_id: None,
        body,
    };
    serde_json::to_vec(&message).unwrap().into()
}

#[tokio::test]
async fn after_a_gap_in_watchlist_changes_the_list_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&format!("sqlite:{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let store = Repositories::of(store);
    store
        .watchlists
        .add_to_watchlist("alice", "AAPL")
        .await
        .unwrap();
    let hub = LocalFanOut::default();
    let schema = build_schema(GraphContext::new(
        &store,
        Arc::new(hub.clone()),
        Default::default(),
    ));
    let request = async_graphql::Request::new("subscription { watchlistInsights { symbol } }")
        .data(Principal::user("alice", None));
    let mut stream = schema.execute_stream(request);
    let subscribed = async {
        while hub.local_subscribers(ALL_INSIGHTS_CHANNEL) == 0
            || hub.local_subscribers(&Channel::Watchlist("alice".into()).name()) == 0
        {
            tokio::task::yield_now().await;
        }
    };
    // The stream subscribes when first polled.
    tokio::select! {
        _ = stream.next() => panic!("nothing was published yet"),
        _ = subscribed => {}
    }

    // The list changes while this replica is cut off from the change notice: it only learns
    // that it may have missed something.
    store
        .watchlists
        .add_to_watchlist("alice", "NVDA")
        .await
        .unwrap();
    hub.signal_gap(&Channel::Watchlist("alice".into()).name());
    // NVDA insights keep coming; once the list is read again they pass. Without the re-read
    // none ever would.
    let response = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            hub.publish(ALL_INSIGHTS_CHANNEL, insight("NVDA"))
                .await
                .unwrap();
            if let Ok(Some(response)) =
                tokio::time::timeout(Duration::from_millis(100), stream.next()).await
            {
                return response;
            }
        }
    })
    .await
    .expect("an insight of the newly watched symbol arrives");
    assert_eq!(
        response.data.into_json().unwrap(),
        serde_json::json!({"watchlistInsights": {"symbol": "NVDA"}})
    );
}
