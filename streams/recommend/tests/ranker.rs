//! The learned ranker end to end, on a real store (SQLite) with the real models (ONNX Runtime
//! and MiniLM from `scripts/setup-models.sh`): trained from the simulated customers' history
//! with content similarity from description embeddings, written as ONNX by us, served by ONNX
//! Runtime for the `ranked` strategy, and measured against the collaborative order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use finpulse_bus::{LocalFanOut, MemoryLog};
use finpulse_inference::{Inference, InferenceConfig, InferenceMetrics};
use finpulse_recommend::learned_ranker::{FEATURES, RankerSource};
use finpulse_recommend::service::{RecommendConfig, RecommendService, RecommendStores};
use finpulse_recommend::simulator::{BehaviourConfig, BehaviourSimulator};
use finpulse_recommend::strategy::Scorer;
use finpulse_store::{MemoryOnlineFeatures, RecommendData, SqlStore};

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models.toml")
}

#[tokio::test]
async fn the_ranker_is_trained_measured_and_served_exactly_when_it_earns_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ranker.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let models = Inference::load(
        &InferenceConfig {
            manifest: manifest(),
            ..InferenceConfig::default()
        },
        &InferenceMetrics::unregistered(),
    )
    .expect("models load (run scripts/setup-models.sh)");
    // The repository's manifest, pointed at a ranker file that does not exist, so this
    // training trains one (a ranker file written by `finpulse train recommender` would win).
    let manifest_text = std::fs::read_to_string(manifest()).unwrap();
    let models_dir = manifest().parent().unwrap().join("models");
    let local = dir.path().join("models.toml");
    std::fs::write(
        &local,
        manifest_text
            .replace(
                "dir = \"models\"",
                &format!("dir = \"{}\"", models_dir.display()),
            )
            .replace("ranker/ranker-v2.onnx", "ranker/absent-in-this-test.onnx"),
    )
    .unwrap();
    let service = RecommendService::new(
        RecommendConfig::default(),
        RecommendStores::of(store.clone(), Arc::new(MemoryOnlineFeatures::default())),
        Arc::new(MemoryLog::default()),
        Arc::new(LocalFanOut::default()),
    )
    .with_models(Some(local), Some(Arc::new(models.embedder(None).unwrap())));
    service.seed_demo_catalogue().await.unwrap();
    let items = store.items(&[], None, 10_000).await.unwrap();
    let mut simulator = BehaviourSimulator::new(BehaviourConfig::default(), items);
    simulator.seed(&service).await.unwrap();
    service
        .materialize_features(chrono::Utc::now())
        .await
        .unwrap();

    let trained = service.train().await.unwrap();
    let built = trained
        .ranker
        .expect("a ranker is trained from the history");
    let report = built.report.clone().expect("with its report");
    assert!(
        report.users_measured > 20 && report.users_fitted > 20,
        "{report:?}"
    );
    eprintln!(
        "ranker: nDCG@10 {:.4} vs collaborative order {:.4} on {} customers (fitted on {}), weights {:?}",
        report.ndcg_ranker,
        report.ndcg_collaborative,
        report.users_measured,
        report.users_fitted,
        report.model
    );
    // The simulated trend followers chase rising instruments: the momentum cross term must
    // come out positive (its column order is the manifest's contract).
    let affinity = FEATURES
        .iter()
        .position(|f| *f == "momentum_affinity")
        .unwrap();
    assert!(report.model.weights[affinity] > 0.0, "{report:?}");

    // The `ranked` strategy serves the ranker and says so when it ordered the held-out
    // customers at least as well as the collaborative scores; otherwise it is not served and
    // `ranked` lists are the collaborative ones. (The simulated history follows the calendar,
    // so which of the two happens can differ from day to day; the gain is small either way.)
    let strategy = service.strategies().get("ranked").unwrap().clone();
    assert_eq!(strategy.scorer, Scorer::Ranked);
    let model = service.current().unwrap();
    let state = service.load_state("alice").await.unwrap();
    let ranked = model.recommend_with(&state, 10, &[], chrono::Utc::now(), ("ranked", &strategy));
    assert_eq!(ranked.items.len(), 10);
    let collaborative = model.recommend(&state, 10, &[], chrono::Utc::now());
    let order = |list: &finpulse_recommend::recommender::Recommendations| {
        list.items
            .iter()
            .map(|r| r.item.clone())
            .collect::<Vec<_>>()
    };
    if report.ndcg_ranker >= report.ndcg_collaborative {
        assert_eq!(built.source, RankerSource::Trained);
        assert!(built.ranker.is_some());
        assert!(ranked.model.contains("+ranker-"), "{}", ranked.model);
        assert_eq!(
            ranked.feature_sets,
            ["item_popularity@1", "item_momentum@1"]
        );
        assert_ne!(order(&ranked), order(&collaborative), "the ranker reorders");
    } else {
        assert_eq!(built.source, RankerSource::Rejected);
        assert!(built.ranker.is_none());
        assert!(!ranked.model.contains("+ranker-"), "{}", ranked.model);
        assert_eq!(order(&ranked), order(&collaborative));
    }

    // `train_ranker` gives the ONNX file `finpulse train recommender` writes.
    let (_, bytes) = service.train_ranker().await.unwrap().expect("a ranker");
    assert!(bytes.len() > 100);
}
