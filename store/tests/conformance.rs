//! One conformance suite for every storage engine, each test on a fresh database: a SQLite
//! file in a temporary folder, or a new PostgreSQL database on the server at
//! `FP_TEST_POSTGRES_URL` (default `postgres://127.0.0.1:5432/postgres`), dropped after.

use chrono::{Duration, TimeZone, Utc};
use finpulse_store::testing::FreshPostgres;
use std::sync::Arc;

use finpulse_core::market::{Candle, Insight, InsightKind, Quote};
use finpulse_core::recommend::{
    AssetClass, Experience, Interaction as RecInteraction, InteractionKind, Item, ItemKind,
    UserProfile,
};
use finpulse_store::{
    CacheConfig, CachedMarketData, DeadLetters, MarketData, MarketWrite, ParkedEvent,
    ProcessorState, ProcessorStates, RecommendData, SqlStore, Watchlists,
};

async fn sqlite() -> (SqlStore, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("test.db").display());
    let store = SqlStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    (store, Box::new(dir))
}

async fn postgres() -> (SqlStore, Box<dyn std::any::Any>) {
    let database = FreshPostgres::create().await;
    let store = SqlStore::connect(&database.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    (store, Box::new(database))
}

fn redis_url() -> String {
    std::env::var("FP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// PostgreSQL market data behind the Redis cache, with keys of its own: what the distributed
/// mode runs (the other repositories are not cached).
async fn cached_postgres() -> (CachedMarketData, Box<dyn std::any::Any>) {
    let (store, guard) = postgres().await;
    let cached = CachedMarketData::connect(
        Arc::new(store),
        CacheConfig {
            url: redis_url(),
            key_prefix: format!("test-{}:", uuid::Uuid::new_v4().simple()),
            ttl_secs: 60,
            tls: Default::default(),
        },
    )
    .await
    .expect("redis at FP_TEST_REDIS_URL is running");
    (cached, guard)
}

fn quote(symbol: &str, price: f64, ms: i64) -> Quote {
    Quote {
        symbol: symbol.into(),
        price,
        bid: price - 0.01,
        ask: price + 0.01,
        volume: 100.0,
        day_open: 100.0,
        ts: Utc.timestamp_millis_opt(ms).unwrap(),
    }
}

fn candle(symbol: &str, minute: i64, close: f64) -> Candle {
    Candle {
        symbol: symbol.into(),
        interval_secs: 60,
        start: Utc.timestamp_millis_opt(minute * 60_000).unwrap(),
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 10.0,
        trades: 3,
    }
}

fn insight(id: &str, kind: InsightKind, ms: i64) -> Insight {
    Insight {
        id: id.into(),
        symbol: "AAPL".into(),
        kind,
        severity: "notice".into(),
        message: format!("{} happened", kind.as_str()),
        ts: Utc.timestamp_millis_opt(ms).unwrap(),
        indicators: serde_json::json!({"rsi14": 71.5}),
    }
}

async fn quotes_keep_the_latest(store: impl MarketData) {
    let write = MarketWrite {
        quotes: vec![quote("MSFT", 10.0, 2_000), quote("AAPL", 5.0, 1_000)],
        ..Default::default()
    };
    store.record_market(&write).await.unwrap();
    // An older quote arriving late must not overwrite a newer one.
    let late = MarketWrite {
        quotes: vec![quote("MSFT", 9.0, 1_000)],
        ..Default::default()
    };
    store.record_market(&late).await.unwrap();
    assert_eq!(store.quote("MSFT").await.unwrap().unwrap().price, 10.0);
    assert_eq!(store.symbols().await.unwrap(), vec!["AAPL", "MSFT"]);
    assert!(store.quote("NOPE").await.unwrap().is_none());
}

async fn reads_follow_writes(store: impl MarketData) {
    // Read before anything exists (a cache may remember the absence), then write and read.
    assert!(store.quote("TSLA").await.unwrap().is_none());
    assert!(store.insights("AAPL", &[], 5).await.unwrap().is_empty());
    let first = MarketWrite {
        quotes: vec![quote("TSLA", 1.0, 1_000)],
        insights: vec![insight("a", InsightKind::RsiOverbought, 1_000)],
        ..Default::default()
    };
    store.record_market(&first).await.unwrap();
    assert_eq!(store.quote("TSLA").await.unwrap().unwrap().price, 1.0);
    assert_eq!(store.insights("AAPL", &[], 5).await.unwrap().len(), 1);
    // Read again (now possibly cached), write newer values, read them.
    assert_eq!(store.quote("TSLA").await.unwrap().unwrap().price, 1.0);
    let second = MarketWrite {
        quotes: vec![quote("TSLA", 2.0, 2_000)],
        insights: vec![insight("b", InsightKind::VolumeSpike, 2_000)],
        ..Default::default()
    };
    store.record_market(&second).await.unwrap();
    assert_eq!(store.quote("TSLA").await.unwrap().unwrap().price, 2.0);
    let ids: Vec<String> = store
        .insights("AAPL", &[], 5)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["b", "a"]);
}

async fn candles_upsert_and_range(store: impl MarketData) {
    let write = MarketWrite {
        candles: (0..10).map(|m| candle("AAPL", m, m as f64)).collect(),
        ..Default::default()
    };
    store.record_market(&write).await.unwrap();
    let update = MarketWrite {
        candles: vec![candle("AAPL", 9, 99.0)],
        ..Default::default()
    };
    store.record_market(&update).await.unwrap();
    let from = Utc.timestamp_millis_opt(2 * 60_000).unwrap();
    let to = from + Duration::minutes(8);
    let got = store.candles("AAPL", 60, from, to, 100).await.unwrap();
    assert_eq!(got.len(), 8);
    assert_eq!(got.first().unwrap().close, 2.0);
    assert_eq!(got.last().unwrap().close, 99.0);
    // A limit keeps the most recent candles, still oldest first.
    let limited = store.candles("AAPL", 60, from, to, 3).await.unwrap();
    let closes: Vec<f64> = limited.iter().map(|c| c.close).collect();
    assert_eq!(closes, vec![7.0, 8.0, 99.0]);
}

async fn insights_are_idempotent_and_filtered(store: impl MarketData) {
    let write = MarketWrite {
        insights: vec![
            insight("a", InsightKind::RsiOverbought, 1),
            insight("b", InsightKind::VolumeSpike, 2),
            insight("c", InsightKind::RsiOverbought, 3),
        ],
        ..Default::default()
    };
    store.record_market(&write).await.unwrap();
    store.record_market(&write).await.unwrap();
    let all = store.insights("AAPL", &[], 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["c", "b", "a"]);
    let rsi = store
        .insights("AAPL", &[InsightKind::RsiOverbought], 1)
        .await
        .unwrap();
    assert_eq!(rsi.len(), 1);
    assert_eq!(rsi[0].id, "c");
    assert_eq!(rsi[0].indicators["rsi14"], 71.5);

    // Catching up: since a time, oldest first, by symbol and kind.
    let mut other = insight("d", InsightKind::RsiOverbought, 4);
    other.symbol = "MSFT".into();
    store
        .record_market(&MarketWrite {
            insights: vec![other],
            ..Default::default()
        })
        .await
        .unwrap();
    let since = Utc.timestamp_millis_opt(2).unwrap();
    let ids = |insights: Vec<Insight>| insights.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.insights_since(&[], &[], since, 10).await.unwrap()),
        ["b", "c", "d"]
    );
    assert_eq!(
        ids(store.insights_since(&[], &[], since, 2).await.unwrap()),
        ["b", "c"]
    );
    let aapl = ["AAPL".to_string()];
    let rsi_kind = [InsightKind::RsiOverbought];
    assert_eq!(
        ids(store.insights_since(&aapl, &[], since, 10).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(
        ids(store
            .insights_since(&[], &rsi_kind, since, 10)
            .await
            .unwrap()),
        ["c", "d"]
    );
    assert_eq!(
        ids(store
            .insights_since(&aapl, &rsi_kind, since, 10)
            .await
            .unwrap()),
        ["c"]
    );
}

async fn watchlists_are_per_user(store: impl Watchlists) {
    store.add_to_watchlist("alice", "AAPL").await.unwrap();
    store.add_to_watchlist("alice", "MSFT").await.unwrap();
    let list = store.add_to_watchlist("alice", "AAPL").await.unwrap();
    assert_eq!(list, vec!["AAPL", "MSFT"]);
    assert!(store.watchlist("bob").await.unwrap().is_empty());
    let list = store.remove_from_watchlist("alice", "AAPL").await.unwrap();
    assert_eq!(list, vec!["MSFT"]);
}

async fn parked_events_keep_the_bytes(store: impl DeadLetters) {
    let event = ParkedEvent {
        topic: "market.ticks".into(),
        partition: 2,
        offset: 41,
        key: Some("AAPL".into()),
        payload: vec![0xff, b'{', 0x00],
        reason: "invalid json".into(),
        parked_at: Utc.timestamp_millis_opt(5).unwrap(),
    };
    store.park_event(&event).await.unwrap();
    assert_eq!(store.parked_events(10).await.unwrap(), vec![event]);
}

fn state(key: &str, partition: i32, offset: i64, state: &str) -> ProcessorState {
    ProcessorState {
        key: key.into(),
        partition,
        offset,
        state: state.into(),
    }
}

async fn processor_states_move_forward_only(store: impl ProcessorStates) {
    let keys: Vec<String> = ["AAPL", "MSFT", "JPM"].map(String::from).to_vec();
    store
        .save_processor_states(
            "market",
            &[state("AAPL", 1, 10, "a10"), state("MSFT", 2, 5, "m5")],
        )
        .await
        .unwrap();
    // Another processor's states are apart.
    store
        .save_processor_states("other", &[state("AAPL", 0, 99, "x")])
        .await
        .unwrap();
    // An older position (a worker that lost the partition and has not noticed) is ignored;
    // a newer one replaces.
    store
        .save_processor_states(
            "market",
            &[state("AAPL", 1, 7, "a7"), state("MSFT", 2, 6, "m6")],
        )
        .await
        .unwrap();
    let mut positions = store
        .processor_state_positions("market", &keys)
        .await
        .unwrap();
    positions.sort();
    assert_eq!(
        positions,
        vec![("AAPL".into(), 1, 10), ("MSFT".into(), 2, 6)]
    );
    let mut states = store.processor_states("market", &keys).await.unwrap();
    states.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        states,
        vec![state("AAPL", 1, 10, "a10"), state("MSFT", 2, 6, "m6")]
    );
    // Keys beyond one query's bind list are all found.
    let many: Vec<ProcessorState> = (0..1200)
        .map(|i| state(&format!("S{i}"), 0, i, "s"))
        .collect();
    store.save_processor_states("bulk", &many).await.unwrap();
    let keys: Vec<String> = many.iter().map(|s| s.key.clone()).collect();
    assert_eq!(
        store
            .processor_state_positions("bulk", &keys)
            .await
            .unwrap()
            .len(),
        1200
    );
}

/// A row of a kind this build does not know (a newer release wrote it during a rolling upgrade)
/// is left out of reads; the rest are still served.
async fn unknown_kinds_are_left_out(url: &str) {
    let store = SqlStore::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
        .record_market(&MarketWrite {
            insights: vec![insight("known", InsightKind::VolumeSpike, 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("raw connection");
    sqlx::query(
        "INSERT INTO insights (id, symbol, kind, severity, message, ts_ms, indicators)
         VALUES ('future', 'AAPL', 'KIND_FROM_THE_FUTURE', 'info', 'm', 2, '{}')",
    )
    .execute(&pool)
    .await
    .expect("insert a row of an unknown kind");
    let ids = |insights: Vec<Insight>| insights.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.insights("AAPL", &[], 10).await.unwrap()),
        ["known"]
    );
    let since = Utc.timestamp_millis_opt(0).unwrap();
    assert_eq!(
        ids(store.insights_since(&[], &[], since, 10).await.unwrap()),
        ["known"]
    );
}

#[tokio::test]
async fn unknown_kinds_are_left_out_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    unknown_kinds_are_left_out(&format!("sqlite:{}", dir.path().join("k.db").display())).await;
}

#[tokio::test]
async fn unknown_kinds_are_left_out_on_postgres() {
    let database = FreshPostgres::create().await;
    unknown_kinds_are_left_out(&database.url).await;
}

fn item(id: &str, kind: ItemKind) -> Item {
    Item {
        id: id.into(),
        kind,
        name: format!("item {id}"),
        asset_class: (kind == ItemKind::Instrument).then_some(AssetClass::Etf),
        sector: "technology".into(),
        region: "global".into(),
        currency: Some("EUR".into()),
        risk: (kind == ItemKind::Instrument).then_some(4),
        complex: false,
        fees_bps: Some(20),
        esg: Some(70),
        tags: vec!["index".into()],
        description: "an index fund".into(),
        published_at: None,
    }
}

async fn catalogue_and_profiles_round_trip(store: impl RecommendData) {
    let items = [
        item("b", ItemKind::Instrument),
        item("a", ItemKind::Article),
        item("c", ItemKind::Instrument),
    ];
    store.upsert_items(&items).await.unwrap();
    let mut renamed = item("b", ItemKind::Instrument);
    renamed.name = "renamed".into();
    store.upsert_items(&[renamed.clone()]).await.unwrap();
    assert_eq!(store.item("b").await.unwrap(), Some(renamed));
    assert_eq!(store.item("zz").await.unwrap(), None);
    let ids = |items: Vec<Item>| items.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.items(&[], None, 10).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(
        ids(store
            .items(&[ItemKind::Instrument], None, 10)
            .await
            .unwrap()),
        ["b", "c"]
    );
    assert_eq!(ids(store.items(&[], Some("a"), 1).await.unwrap()), ["b"]);

    let profile = UserProfile {
        id: "alice".into(),
        risk_profile: 4,
        experience: Experience::Intermediate,
        country: "DE".into(),
        interests: vec!["clean energy".into()],
        holdings: vec!["b".into()],
    };
    store
        .upsert_user_profiles(std::slice::from_ref(&profile))
        .await
        .unwrap();
    assert_eq!(
        store.user_profile("alice").await.unwrap(),
        Some(profile.clone())
    );
    assert_eq!(store.user_profiles(None, 10).await.unwrap(), vec![profile]);
    assert_eq!(store.user_profile("bob").await.unwrap(), None);
}

async fn interactions_are_kept_once_and_paged_whole(store: impl RecommendData) {
    let at = |ms| Utc.timestamp_millis_opt(ms).unwrap();
    let interaction = |user: &str, item: &str, kind, ms| RecInteraction {
        user: user.into(),
        item: item.into(),
        kind,
        rating: None,
        recommendation_id: Some("r1".into()),
        at: at(ms),
    };
    let mut rows = Vec::new();
    for n in 0..25 {
        rows.push(interaction(
            &format!("u{}", n % 3),
            &format!("i{n}"),
            InteractionKind::Click,
            1_000 + n,
        ));
    }
    let mut rated = interaction("u0", "i0", InteractionKind::Rate, 5_000);
    rated.rating = Some(4.5);
    rated.recommendation_id = None;
    rows.push(rated.clone());
    store.record_interactions(&rows).await.unwrap();
    // a redelivery changes nothing
    store.record_interactions(&rows[..5]).await.unwrap();
    let mut paged = Vec::new();
    let mut after: Option<RecInteraction> = None;
    loop {
        let page = store.interactions_page(after.as_ref(), 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged.len(), 26);
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| (&a.user, &a.item, a.at).cmp(&(&b.user, &b.item, b.at)));
    let mut paged_sorted = paged.clone();
    paged_sorted.sort_by(|a, b| (&a.user, &a.item, a.at).cmp(&(&b.user, &b.item, b.at)));
    assert_eq!(paged_sorted, sorted);
    let recent = store.user_interactions("u0", 2).await.unwrap();
    assert_eq!(recent.last(), Some(&rated));
    assert_eq!(recent.len(), 2);
    assert!(recent[0].at < recent[1].at);
}

macro_rules! market_conformance {
    ($engine:ident) => {
        mod $engine {
            use super::*;
            #[tokio::test]
            async fn quotes_keep_the_latest() {
                let (store, _guard) = $engine().await;
                super::quotes_keep_the_latest(store).await;
            }
            #[tokio::test]
            async fn reads_follow_writes() {
                let (store, _guard) = $engine().await;
                super::reads_follow_writes(store).await;
            }
            #[tokio::test]
            async fn candles_upsert_and_range() {
                let (store, _guard) = $engine().await;
                super::candles_upsert_and_range(store).await;
            }
            #[tokio::test]
            async fn insights_are_idempotent_and_filtered() {
                let (store, _guard) = $engine().await;
                super::insights_are_idempotent_and_filtered(store).await;
            }
        }
    };
}

macro_rules! other_conformance {
    ($engine:ident, $module:ident) => {
        mod $module {
            use super::*;
            #[tokio::test]
            async fn watchlists_are_per_user() {
                let (store, _guard) = $engine().await;
                super::watchlists_are_per_user(store).await;
            }
            #[tokio::test]
            async fn processor_states_move_forward_only() {
                let (store, _guard) = $engine().await;
                super::processor_states_move_forward_only(store).await;
            }
            #[tokio::test]
            async fn parked_events_keep_the_bytes() {
                let (store, _guard) = $engine().await;
                super::parked_events_keep_the_bytes(store).await;
            }
            #[tokio::test]
            async fn catalogue_and_profiles_round_trip() {
                let (store, _guard) = $engine().await;
                super::catalogue_and_profiles_round_trip(store).await;
            }
            #[tokio::test]
            async fn interactions_are_kept_once_and_paged_whole() {
                let (store, _guard) = $engine().await;
                super::interactions_are_kept_once_and_paged_whole(store).await;
            }
        }
    };
}

// Market data on both engines and behind the cache; the other repositories on both engines.
market_conformance!(sqlite);
market_conformance!(postgres);
market_conformance!(cached_postgres);
other_conformance!(sqlite, sqlite_other);
other_conformance!(postgres, postgres_other);

/// `sslmode=require` in the connection string encrypts the connection to PostgreSQL (rustls):
/// the server's own view of the session says so. The local test server runs with `ssl = on`
/// (Debian's default, its snakeoil certificate); `verify-full` with `sslrootcert=` is the
/// production form.
#[tokio::test]
async fn postgres_connections_use_tls_when_the_url_asks_for_it() {
    let database = finpulse_store::testing::FreshPostgres::create().await;
    let separator = if database.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", database.url);
    let store = finpulse_store::SqlStore::connect(&url)
        .await
        .expect("a TLS connection to the test server");
    // Fails unless the session running it is encrypted.
    const ENCRYPTED: &str = "DO $$ BEGIN IF NOT (SELECT ssl FROM pg_stat_ssl \
        WHERE pid = pg_backend_pid()) THEN RAISE EXCEPTION 'not encrypted'; END IF; END $$";
    let encrypted = store.run_raw_sql(ENCRYPTED).await;
    assert!(encrypted.is_ok(), "{encrypted:?}");
    let plain =
        finpulse_store::SqlStore::connect(&format!("{}{separator}sslmode=disable", database.url))
            .await
            .unwrap();
    let unencrypted = plain.run_raw_sql(ENCRYPTED).await;
    assert!(unencrypted.is_err(), "the check can tell the two apart");
}
