//! What only the Redis cache has to do: serve repeated reads from Redis, and keep answering from
//! the store when Redis is away. Each test has its own key prefix and SQLite file; the Redis is
//! the one at `FP_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).

use chrono::{TimeZone, Utc};
use std::sync::Arc;

use finpulse_core::market::Quote;
use finpulse_store::{CacheConfig, CachedMarketData, MarketData, MarketWrite, SqlStore};
use prometheus::{IntCounterVec, Opts};

fn redis_url() -> String {
    std::env::var("FP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn quote(price: f64, ms: i64) -> Quote {
    Quote {
        symbol: "AAPL".into(),
        price,
        bid: price,
        ask: price,
        volume: 1.0,
        day_open: price,
        ts: Utc.timestamp_millis_opt(ms).unwrap(),
    }
}

/// Two handles on one SQLite database: one behind the cache, one beside it.
async fn stores(url: &str) -> (CachedMarketData, SqlStore, IntCounterVec, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("cache.db").display());
    let behind = SqlStore::connect(&db).await.unwrap();
    behind.migrate().await.unwrap();
    let beside = SqlStore::connect(&db).await.unwrap();
    let requests = IntCounterVec::new(
        Opts::new("requests", "cache requests"),
        &["entity", "result"],
    )
    .unwrap();
    let cached = CachedMarketData::connect(
        Arc::new(behind),
        CacheConfig {
            url: url.to_owned(),
            key_prefix: format!("test-{}:", uuid::Uuid::new_v4().simple()),
            ttl_secs: 60,
            tls: Default::default(),
        },
    )
    .await
    .expect("redis is running")
    .with_metrics(requests.clone());
    (cached, beside, requests, dir)
}

#[tokio::test]
async fn repeated_reads_come_from_redis_until_a_write_invalidates_them() {
    let (cached, beside, requests, _dir) = stores(&redis_url()).await;
    cached
        .record_market(&MarketWrite {
            quotes: vec![quote(1.0, 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cached.quote("AAPL").await.unwrap().unwrap().price, 1.0);
    // Changed behind the cache's back: the cached copy is what a reader gets.
    beside
        .record_market(&MarketWrite {
            quotes: vec![quote(2.0, 2)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cached.quote("AAPL").await.unwrap().unwrap().price, 1.0);
    assert_eq!(requests.with_label_values(&["quote", "hit"]).get(), 1);
    assert_eq!(requests.with_label_values(&["quote", "miss"]).get(), 1);
    // A write through the cached store invalidates.
    cached
        .record_market(&MarketWrite {
            quotes: vec![quote(3.0, 3)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cached.quote("AAPL").await.unwrap().unwrap().price, 3.0);
}

#[tokio::test]
async fn without_redis_reads_fall_through_to_the_store() {
    // A Redis user of this test's own, switched off and disconnected after start-up.
    let admin = redis::Client::open(redis_url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let user = format!("fp-test-{}", uuid::Uuid::new_v4().simple());
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", "nopass", "~*", "&*", "+@all"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let url = format!(
        "redis://{user}:x@{}",
        redis_url().strip_prefix("redis://").unwrap()
    );
    let (cached, _beside, requests, _dir) = stores(&url).await;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", &user, "off"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "USER", &user])
        .query_async(&mut admin)
        .await
        .unwrap();

    cached
        .record_market(&MarketWrite {
            quotes: vec![quote(7.0, 1)],
            ..Default::default()
        })
        .await
        .expect("writes do not need redis");
    assert_eq!(cached.quote("AAPL").await.unwrap().unwrap().price, 7.0);
    assert!(requests.with_label_values(&["quote", "error"]).get() >= 1);
    let _: i64 = redis::cmd("ACL")
        .arg(&["DELUSER", &user])
        .query_async(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&format!("sqlite:{}", dir.path().join("x.db").display()))
        .await
        .unwrap();
    let error = CachedMarketData::connect(
        Arc::new(store),
        CacheConfig {
            url: "redis://127.0.0.1:1".into(),
            key_prefix: "none:".into(),
            ttl_secs: 1,
            tls: Default::default(),
        },
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(
        error.to_string().contains("failed to connect to redis"),
        "{error}"
    );
}
