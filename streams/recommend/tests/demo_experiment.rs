//! The demo experiment, live on a real store (SQLite, the embedded default): simulated
//! customers open lists made by the bandit's variants and react by their tastes, outcomes are
//! attributed from their interactions, and the bandit moves traffic away from popularity, the
//! strategy that knows nothing of the customer. Which arm converts best is not asserted: the
//! bandit starves popularity, so its conversion rests on a few dozen lists; what is asserted is
//! that popularity never converts clearly better (beyond two standard errors) while it loses
//! its traffic.

use std::sync::Arc;

use finpulse_bus::{LocalFanOut, MemoryLog};
use finpulse_core::recommend::experiment::Status;
use finpulse_recommend::service::{RecommendConfig, RecommendService, RecommendStores};
use finpulse_recommend::simulator::{BehaviourConfig, BehaviourSimulator, demo_experiment};
use finpulse_store::{MemoryOnlineFeatures, RecommendData, SqlStore};

async fn service() -> (Arc<RecommendService>, Arc<SqlStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("demo.db").display());
    let store = SqlStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    let stores = RecommendStores::of(store.clone(), Arc::new(MemoryOnlineFeatures::default()));
    let service = RecommendService::new(
        RecommendConfig::default(),
        stores,
        Arc::new(MemoryLog::default()),
        Arc::new(LocalFanOut::default()),
    );
    (Arc::new(service), store, dir)
}

#[tokio::test]
async fn the_bandit_moves_traffic_away_from_popularity_which_never_converts_clearly_better() {
    let (service, store, _dir) = service().await;
    service.seed_demo_catalogue().await.unwrap();
    let items = store.items(&[], None, 10_000).await.unwrap();
    // Many customers with a short history each, so that no one runs out of unseen items of
    // their taste within the test (seen items are not shown again for a day).
    let config = BehaviourConfig {
        users: 300,
        history: 3_000,
        seed: 3,
        ..BehaviourConfig::default()
    };
    let mut simulator = BehaviourSimulator::new(config, items);
    simulator.seed(&service).await.unwrap();
    service
        .materialize_features(chrono::Utc::now())
        .await
        .unwrap();
    service.train().await.unwrap();

    let experiments = service.experiments();
    let strategies = service.strategies();
    let demo = experiments
        .create(demo_experiment(), |name| strategies.contains_key(name))
        .await
        .unwrap();
    let running = experiments.start(&demo.id).await.unwrap();
    assert_eq!(running.status, Status::Running);

    let users: Vec<String> = simulator.profiles().into_iter().map(|p| p.id).collect();
    let mut early = Vec::new();
    let mut late = Vec::new();
    let rounds = 1_800;
    for round in 0..rounds {
        let user = &users[round % users.len()];
        let reactions = simulator.browse(&service, user).await.unwrap();
        // What the processor does with them: keep, then attribute.
        store.record_interactions(&reactions).await.unwrap();
        experiments.attribute(&reactions).await.unwrap();
        if round % 20 == 19 {
            // The refresh task's work, on the test's clock.
            experiments.refresh().await.unwrap();
        }
        let assignment = service
            .list_for(&service.load_state(user).await.unwrap(), 8, &[])
            .unwrap()
            .assignment
            .expect("a running experiment assigns every list");
        if round < 300 {
            early.push(assignment.variant);
        } else if round >= rounds - 600 {
            late.push(assignment.variant);
        }
    }
    let share = |lists: &[String], name: &str| {
        lists.iter().filter(|v| *v == name).count() as f64 / lists.len() as f64
    };
    let results = experiments.results(&demo.id).await.unwrap();
    let figures: Vec<(String, u64, f64)> = results
        .variants
        .iter()
        .map(|v| (v.name.clone(), v.counts.impressions, v.conversion.value))
        .collect();
    let conversion = |name: &str| {
        results
            .variants
            .iter()
            .find(|v| v.name == name)
            .unwrap()
            .conversion
            .value
    };
    eprintln!(
        "figures {figures:?}; popularity's share early {:.3}, late {:.3}",
        share(&early, "popularity"),
        share(&late, "popularity")
    );
    // The bandit starves popularity, so its conversion rests on a few dozen impressions and
    // swings by ±0.1 from run to run (the arms are sampled): a fixed lift over its point
    // estimate (this test once asked for 1.2×) failed two runs of eight on 2026-12-04, with
    // the personal arms converting about 0.48 against popularity's 0.43 when it is shown. What must hold is that popularity is never
    // clearly better: the personal arms pooled stay above its estimate less two standard
    // errors.
    let personal = ["collaborative", "no-diversity", "ranked"];
    let (converted, shown) = figures
        .iter()
        .filter(|(name, _, _)| personal.contains(&name.as_str()))
        .fold((0.0, 0.0), |(c, n), (_, impressions, rate)| {
            (c + rate * *impressions as f64, n + *impressions as f64)
        });
    let pooled = converted / shown;
    let popular = conversion("popularity");
    let popular_shown = figures
        .iter()
        .find(|(name, _, _)| name == "popularity")
        .map_or(0, |(_, impressions, _)| *impressions)
        .max(1) as f64;
    let standard_error = (popular * (1.0 - popular) / popular_shown).sqrt();
    assert!(
        pooled > popular - 2.0 * standard_error,
        "popularity converts clearly better than the personal strategies ({pooled:.3} pooled): {figures:?}"
    );
    // An even split would give popularity a quarter of the lists; the bandit gives it far
    // less, and next to none by the end.
    let popularity_share = results
        .variants
        .iter()
        .find(|v| v.name == "popularity")
        .unwrap()
        .share;
    assert!(
        popularity_share < 0.15 && share(&late, "popularity") < 0.1,
        "the bandit moves traffic away from popularity: overall {popularity_share:.2}, late {:.2}, {figures:?}",
        share(&late, "popularity")
    );
    let impressions: u64 = results.variants.iter().map(|v| v.counts.impressions).sum();
    assert_eq!(
        impressions, rounds as u64,
        "every list shown is one impression"
    );
    assert!(!results.traffic.is_empty());
}
