//! The feature store on a real store (SQLite, the embedded default): materialized at several
//! times while interactions keep arriving, a point-in-time read for any time returns exactly
//! what was known then, never a value computed from later interactions.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use finpulse_bus::{LocalFanOut, MemoryLog};
use finpulse_core::feature_store::FeatureValue;
use finpulse_core::recommend::{Interaction, InteractionKind};
use finpulse_recommend::feature_sets::{ITEM_POPULARITY, USER_ENGAGEMENT};
use finpulse_recommend::service::{RecommendConfig, RecommendService, RecommendStores};
use finpulse_store::{MemoryOnlineFeatures, RecommendData, SqlStore};
use rand::{Rng, SeedableRng};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

/// A fresh SQLite store in `dir` and a recommender service over it with the demo catalogue.
async fn service_on_sqlite(dir: &tempfile::TempDir) -> (Arc<SqlStore>, RecommendService) {
    let url = format!("sqlite:{}", dir.path().join("features.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let service = RecommendService::new(
        RecommendConfig::default(),
        RecommendStores::of(store.clone(), Arc::new(MemoryOnlineFeatures::default())),
        Arc::new(MemoryLog::default()),
        Arc::new(LocalFanOut::default()),
    );
    service.seed_demo_catalogue().await.unwrap();
    (store, service)
}

#[tokio::test]
async fn point_in_time_reads_never_leak_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let (store, service) = service_on_sqlite(&dir).await;
    let item = store.items(&[], None, 1).await.unwrap()[0].id.clone();

    // Day n: user `ann` clicks `item` n times, at noon; features materialized each midnight.
    let mut materialized = Vec::new();
    for day in 0..10i64 {
        let midnight = start() + Duration::days(day);
        service.materialize_features(midnight).await.unwrap();
        materialized.push(midnight);
        let clicks: Vec<Interaction> = (0..day)
            .map(|n| Interaction {
                user: "ann".into(),
                item: item.clone(),
                kind: InteractionKind::Click,
                rating: None,
                recommendation_id: None,
                at: midnight + Duration::hours(12) + Duration::seconds(n),
            })
            .collect();
        store.record_interactions(&clicks).await.unwrap();
    }
    // Clicks of days before d: 0 + 1 + … + (d − 1).
    let known_at = |midnight: DateTime<Utc>| -> i64 {
        let days = (midnight - start()).num_days();
        days * (days - 1) / 2
    };

    let features = service.features();
    let users = features.set(USER_ENGAGEMENT, None).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let times: Vec<DateTime<Utc>> = (0..300)
        .map(|_| {
            start() - Duration::days(1) + Duration::minutes(rng.random_range(0..(12 * 24 * 60)))
        })
        .collect();
    let requests: Vec<(String, DateTime<Utc>)> =
        times.iter().map(|t| ("ann".to_owned(), *t)).collect();
    let rows = features.as_of(users, &requests).await.unwrap();
    for (time, row) in times.iter().zip(&rows) {
        // The newest materialization at or before the time asked.
        let expected = materialized.iter().rev().find(|m| *m <= time);
        match (expected, row) {
            (None, None) => {}
            (Some(midnight), Some(row)) => {
                assert_eq!(row.event_time, *midnight, "asked at {time}");
                assert!(row.event_time <= *time, "a row from after {time}");
                assert_eq!(
                    row.values["clicks_30d"],
                    FeatureValue::Int(known_at(*midnight))
                );
            }
            // On the first midnight ann had no interactions, hence no row: nothing is known.
            (Some(midnight), None) => assert_eq!(known_at(*midnight), 0, "asked at {time}"),
            (None, Some(row)) => panic!("a row before any materialization: {row:?}"),
        }
    }

    // Online: the newest row; items have rows whether engaged or not.
    let online = features.online(users, &["ann".into()]).await.unwrap();
    assert_eq!(online[0].as_ref().unwrap().event_time, materialized[9]);
    let items = features.set(ITEM_POPULARITY, Some(1)).unwrap();
    let summary = features.summary(items).await.unwrap();
    assert_eq!(summary.rows, 10 * summary.entities);
    assert!(features.set("no_such_set", None).is_err());
}

/// The momentum set reads instruments' daily candles in the store: a row as of a time knows
/// only the days closed by then, and instruments without prices get none.
#[tokio::test]
async fn momentum_rows_come_from_closed_daily_bars_only() {
    use finpulse_core::market::Candle;
    use finpulse_recommend::feature_sets::ITEM_MOMENTUM;
    use finpulse_recommend::momentum::DAY_SECS;
    use finpulse_store::{MarketData, MarketWrite};

    let dir = tempfile::tempdir().unwrap();
    let (store, service) = service_on_sqlite(&dir).await;
    let items = store.items(&[], None, 10_000).await.unwrap();
    let instrument = items
        .iter()
        .find(|i| i.kind == finpulse_core::recommend::ItemKind::Instrument)
        .unwrap()
        .id
        .clone();
    // Thirty days of closes 100, 101, …, 129 (day d closes at 100 + d).
    let candles: Vec<Candle> = (0..30)
        .map(|d| Candle {
            symbol: instrument.clone(),
            interval_secs: DAY_SECS,
            start: start() + Duration::days(d),
            open: 100.0 + d as f64,
            high: 100.0 + d as f64,
            low: 100.0 + d as f64,
            close: 100.0 + d as f64,
            volume: 0.0,
            trades: 0,
        })
        .collect();
    store
        .record_market(&MarketWrite {
            candles,
            ..Default::default()
        })
        .await
        .unwrap();

    // As of day 25 at 15:00, days 0..=24 have closed: last close 124, 20 closes back 104.
    let as_of = start() + Duration::days(25) + Duration::hours(15);
    let written = service.materialize_features(as_of).await.unwrap();
    let momentum_written = written
        .iter()
        .find(|(key, _)| key == "item_momentum@1")
        .unwrap()
        .1;
    assert_eq!(
        momentum_written, 1,
        "only the instrument with prices has a row"
    );
    let features = service.features();
    let set = features.set(ITEM_MOMENTUM, Some(1)).unwrap();
    let row = features
        .online(set, std::slice::from_ref(&instrument))
        .await
        .unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(row.values["close"], FeatureValue::Float(124.0));
    let expected = (124.0f64 / 104.0).ln();
    let got = row.values["return_20d"].as_f64().unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    assert_eq!(row.values["days"], FeatureValue::Int(20));
    // A read as of just before that materialization has no row yet: nothing from the future.
    let before = features
        .as_of(set, &[(instrument.clone(), as_of - Duration::seconds(1))])
        .await
        .unwrap();
    assert_eq!(before, vec![None]);
    // The candles of the days after did not leak into the row: the store holds closes up to
    // 129, the row says 124.
    let later = store
        .candles(
            &instrument,
            DAY_SECS,
            start(),
            start() + Duration::days(40),
            100,
        )
        .await
        .unwrap();
    assert_eq!(later.last().unwrap().close, 129.0);
}
