//! The trained-model repository on both engines, each test on a fresh database: versions keep
//! their bytes, publishing can serve at once, serving needs a kept version, pruning keeps the
//! newest and the one served.

use chrono::{TimeZone, Utc};
use finpulse_core::artifact::ModelArtifact;
use finpulse_store::ModelArtifacts;

fn artifact(name: &str, version: &str, created_secs: i64) -> ModelArtifact {
    ModelArtifact {
        name: name.into(),
        version: version.into(),
        created_at: Utc.timestamp_opt(1_700_000_000 + created_secs, 0).unwrap(),
        size_bytes: 0,
        summary: serde_json::json!({ "model": "ease", "items": created_secs }),
    }
}

/// Bytes that a text column would mangle: every byte value, NUL and invalid UTF-8 included.
fn bytes(seed: u8) -> Vec<u8> {
    (0..=255u8)
        .cycle()
        .skip(seed as usize)
        .take(70_000)
        .collect()
}

async fn versions_are_published_served_and_read_back(store: impl ModelArtifacts) {
    assert_eq!(store.serving_model("recommender").await.unwrap(), None);
    assert!(
        store
            .model_versions("recommender")
            .await
            .unwrap()
            .is_empty()
    );

    // Kept but not served.
    assert!(
        store
            .publish_model(&artifact("recommender", "v1", 10), &bytes(1), false)
            .await
            .unwrap()
    );
    assert_eq!(store.serving_model("recommender").await.unwrap(), None);
    // Kept and served in one step.
    assert!(
        store
            .publish_model(&artifact("recommender", "v2", 20), &bytes(2), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store.serving_model("recommender").await.unwrap().as_deref(),
        Some("v2")
    );
    // A taken version changes nothing, not even what is served.
    assert!(
        !store
            .publish_model(&artifact("recommender", "v1", 30), &bytes(9), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store.serving_model("recommender").await.unwrap().as_deref(),
        Some("v2")
    );
    assert_eq!(
        store.model_bytes("recommender", "v1").await.unwrap(),
        Some(bytes(1))
    );
    assert_eq!(
        store.model_bytes("recommender", "v2").await.unwrap(),
        Some(bytes(2))
    );
    assert_eq!(store.model_bytes("recommender", "v3").await.unwrap(), None);
    assert_eq!(store.model_bytes("ranker", "v1").await.unwrap(), None);

    let versions = store.model_versions("recommender").await.unwrap();
    let listed: Vec<(&str, u64)> = versions
        .iter()
        .map(|v| (v.version.as_str(), v.size_bytes))
        .collect();
    assert_eq!(listed, [("v1", 70_000), ("v2", 70_000)], "oldest first");
    assert_eq!(versions[0].summary["items"], 10);
    assert_eq!(versions[1].created_at, artifact("x", "v2", 20).created_at);

    // Names are separate.
    assert!(
        store
            .publish_model(&artifact("triage", "v1", 5), &bytes(3), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store.serving_model("recommender").await.unwrap().as_deref(),
        Some("v2")
    );
    assert_eq!(store.model_versions("triage").await.unwrap().len(), 1);
}

async fn rollback_needs_a_kept_version_and_pruning_keeps_the_served(store: impl ModelArtifacts) {
    for (n, version) in ["v1", "v2", "v3", "v4", "v5"].into_iter().enumerate() {
        store
            .publish_model(&artifact("recommender", version, n as i64), &bytes(0), true)
            .await
            .unwrap();
    }
    assert_eq!(
        store.serving_model("recommender").await.unwrap().as_deref(),
        Some("v5")
    );
    // Roll back to v1; an unknown version is refused and changes nothing.
    assert!(store.serve_model("recommender", "v1").await.unwrap());
    assert!(!store.serve_model("recommender", "v9").await.unwrap());
    assert!(!store.serve_model("triage", "v1").await.unwrap());
    assert_eq!(
        store.serving_model("recommender").await.unwrap().as_deref(),
        Some("v1")
    );
    assert_eq!(store.serving_model("triage").await.unwrap(), None);

    // Keep the newest two: v4 and v5, and v1 because it is served.
    assert_eq!(store.prune_models("recommender", 2).await.unwrap(), 2);
    let kept: Vec<String> = store
        .model_versions("recommender")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, ["v1", "v4", "v5"]);
    assert!(
        store
            .model_bytes("recommender", "v1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.prune_models("recommender", 2).await.unwrap(), 0);
    // Serving a newer one again lets the old one go.
    assert!(store.serve_model("recommender", "v5").await.unwrap());
    assert_eq!(store.prune_models("recommender", 2).await.unwrap(), 1);
    assert_eq!(store.model_versions("recommender").await.unwrap().len(), 2);
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

macro_rules! artifact_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn versions_are_published_served_and_read_back() {
                let (store, _guard) = super::$engine().await;
                super::versions_are_published_served_and_read_back(store).await;
            }
            #[tokio::test]
            async fn rollback_needs_a_kept_version_and_pruning_keeps_the_served() {
                let (store, _guard) = super::$engine().await;
                super::rollback_needs_a_kept_version_and_pruning_keeps_the_served(store).await;
            }
        }
    };
}

artifact_conformance!(sqlite);
artifact_conformance!(postgres);
