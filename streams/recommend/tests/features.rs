//! The feature store on a real store (SQLite, the embedded default): materialized at several
//! times while interactions keep arriving, a point-in-time read for any time returns exactly
//! what was known then, never a value computed from later interactions.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use finpulse_bus::{LocalFanOut, MemoryLog};
use finpulse_core::features::FeatureValue;
use finpulse_core::recommend::{Interaction, InteractionKind};
use finpulse_recommend::features::{ITEM_POPULARITY, USER_ENGAGEMENT};
use finpulse_recommend::service::{RecommendConfig, RecommendService, RecommendStores};
use finpulse_store::{MemoryOnlineFeatures, RecommendData, SqlStore};
use rand::{Rng, SeedableRng};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

#[tokio::test]
async fn point_in_time_reads_never_leak_the_future() {
    let dir = tempfile::tempdir().unwrap();
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
