//! The feature store's backends: offline rows on both SQL engines (each test on a fresh
//! database), online rows in process and in the real Redis (a fresh key prefix per test), held
//! to the same behaviour.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use finpulse_core::feature_store::{FeatureRow, FeatureValue};
use finpulse_store::testing::FreshPostgres;
use finpulse_store::{
    FeatureData, MemoryOnlineFeatures, OnlineFeatures, RedisOnlineFeatures, SqlStore,
};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0).unwrap()
}

fn row(set: &str, entity: &str, hour: u32, clicks: i64) -> FeatureRow {
    FeatureRow {
        set: set.into(),
        version: 1,
        entity_id: entity.into(),
        event_time: at(hour),
        values: BTreeMap::from([
            ("clicks".to_owned(), FeatureValue::Int(clicks)),
            ("rate".to_owned(), FeatureValue::Float(clicks as f64 / 10.0)),
        ]),
    }
}

async fn offline_rows_are_kept_by_event_time(store: impl FeatureData) {
    store
        .write_feature_rows(&[
            row("u", "ann", 9, 1),
            row("u", "ann", 12, 4),
            row("u", "ben", 10, 2),
        ])
        .await
        .unwrap();
    // The same time again replaces; another set or version is apart.
    store
        .write_feature_rows(&[row("u", "ann", 12, 5), row("i", "ann", 12, 9)])
        .await
        .unwrap();
    let mut v2 = row("u", "ann", 8, 7);
    v2.version = 2;
    store.write_feature_rows(&[v2]).await.unwrap();

    let rows = store
        .feature_rows("u", 1, &["ann".into(), "ben".into(), "cid".into()])
        .await
        .unwrap();
    let seen: Vec<(&str, u32, &FeatureValue)> = rows
        .iter()
        .map(|r| {
            (
                r.entity_id.as_str(),
                r.event_time.format("%H").to_string().parse().unwrap(),
                &r.values["clicks"],
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ann", 9, &FeatureValue::Int(1)),
            ("ann", 12, &FeatureValue::Int(5)),
            ("ben", 10, &FeatureValue::Int(2))
        ]
    );
    assert_eq!(
        rows[0],
        row("u", "ann", 9, 1),
        "values round-trip with their types"
    );
    assert_eq!(
        store.feature_entities("u", 1, 10).await.unwrap(),
        ["ann", "ben"]
    );
    let summary = store.feature_summary("u", 1).await.unwrap();
    assert_eq!((summary.rows, summary.entities), (3, 2));
    assert_eq!((summary.first, summary.last), (Some(at(9)), Some(at(12))));
    let empty = store.feature_summary("nothing", 1).await.unwrap();
    assert_eq!((empty.rows, empty.first), (0, None));
}

async fn online_rows_keep_the_newest(store: impl OnlineFeatures) {
    store
        .put(&[row("u", "ann", 10, 1), row("u", "ben", 10, 2)])
        .await
        .unwrap();
    store.put(&[row("u", "ann", 12, 3)]).await.unwrap();
    // A backfill of an earlier time does not take serving back in time.
    store.put(&[row("u", "ann", 11, 99)]).await.unwrap();
    let got = store
        .get("u", 1, &["ann".into(), "nobody".into(), "ben".into()])
        .await
        .unwrap();
    assert_eq!(got[0], Some(row("u", "ann", 12, 3)));
    assert_eq!(got[1], None);
    assert_eq!(got[2], Some(row("u", "ben", 10, 2)));
    assert_eq!(
        store.get("u", 2, &["ann".into()]).await.unwrap(),
        [None],
        "versions are apart"
    );
}

#[tokio::test]
async fn offline_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&format!("sqlite:{}", dir.path().join("f.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    offline_rows_are_kept_by_event_time(store).await;
}

#[tokio::test]
async fn offline_rows_on_postgres() {
    let database = FreshPostgres::create().await;
    let store = SqlStore::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    offline_rows_are_kept_by_event_time(store).await;
}

#[tokio::test]
async fn online_rows_in_process() {
    online_rows_keep_the_newest(MemoryOnlineFeatures::default()).await;
}

#[tokio::test]
async fn online_rows_in_redis() {
    let url =
        std::env::var("FP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("test-{}:features:", uuid::Uuid::new_v4().simple());
    let store = RedisOnlineFeatures::connect(&url, &Default::default(), prefix)
        .await
        .expect("Redis at FP_TEST_REDIS_URL (default 127.0.0.1:6379) is running");
    online_rows_keep_the_newest(store).await;
}
