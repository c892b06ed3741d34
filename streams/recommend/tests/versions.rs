//! Model versions shared through the store (PostgreSQL, as replicas share it in distributed
//! mode): a version trained by one replica is served by another from the stored bytes, with the
//! same lists; a rollback on any replica reaches the others; a worker leaves a scheduled
//! training to a peer that trained recently; the store keeps the last few versions.

use std::sync::Arc;
use std::time::Duration;

use finpulse_bus::{LocalFanOut, MemoryLog};
use finpulse_recommend::RecommendError;
use finpulse_recommend::service::{RecommendConfig, RecommendService, RecommendStores};
use finpulse_recommend::simulator::{BehaviourConfig, BehaviourSimulator};
use finpulse_store::testing::fresh_postgres;
use finpulse_store::{MemoryOnlineFeatures, RecommendData, SqlStore};

fn replica(store: &Arc<SqlStore>) -> RecommendService {
    RecommendService::new(
        RecommendConfig::default(),
        RecommendStores::of(store.clone(), Arc::new(MemoryOnlineFeatures::default())),
        Arc::new(MemoryLog::default()),
        Arc::new(LocalFanOut::default()),
    )
}

/// The top ten of a customer's list as a replica makes it.
async fn top(replica: &RecommendService, user: &str) -> (Option<String>, Vec<(String, String)>) {
    let list = replica.recommend(user, 10, &[]).await.unwrap();
    (
        Some(list.list.model_version),
        list.list
            .items
            .into_iter()
            .map(|item| (item.item, item.explanation))
            .collect(),
    )
}

#[tokio::test]
async fn replicas_serve_the_version_the_store_names_and_roll_back_together() {
    let (store, _database) = fresh_postgres().await;
    let store = Arc::new(store);
    let worker = replica(&store);
    let gateway = replica(&store);
    worker.seed_demo_catalogue().await.unwrap();
    let items = store.items(&[], None, 10_000).await.unwrap();
    let config = BehaviourConfig {
        users: 60,
        history: 1_500,
        seed: 11,
        ..BehaviourConfig::default()
    };
    let mut simulator = BehaviourSimulator::new(config, items);
    simulator.seed(&worker).await.unwrap();
    let customers: Vec<String> = simulator
        .profiles()
        .into_iter()
        .take(5)
        .map(|p| p.id)
        .collect();

    // Nothing trained yet: nothing to follow, nothing served.
    assert!(!gateway.follow().await.unwrap());
    assert!(matches!(
        gateway.recommend(&customers[0], 10, &[]).await,
        Err(RecommendError::NotReady)
    ));
    assert!(
        worker
            .training_due(Duration::from_secs(3600))
            .await
            .unwrap()
    );

    let first = worker.train().await.unwrap().version;
    assert_eq!(worker.version().as_deref(), Some(first.as_str()));
    assert!(
        !worker
            .training_due(Duration::from_secs(3600))
            .await
            .unwrap()
    );
    assert!(worker.training_due(Duration::ZERO).await.unwrap());
    // The gateway loads the worker's version from the store, without training.
    assert!(gateway.follow().await.unwrap());
    assert!(!gateway.follow().await.unwrap(), "already served");
    assert_eq!(gateway.version(), worker.version());
    for customer in &customers {
        let served = top(&gateway, customer).await;
        assert_eq!(served, top(&worker, customer).await, "{customer}");
        assert_eq!(served.0.as_deref(), Some(first.as_str()));
        assert_eq!(served.1.len(), 10);
    }

    // More history, a second training: the gateway follows.
    for _ in 0..40 {
        let user = &customers[1];
        let reactions = simulator.browse(&worker, user).await.unwrap();
        store.record_interactions(&reactions).await.unwrap();
    }
    let second = worker.train().await.unwrap().version;
    assert_ne!(first, second);
    assert!(gateway.follow().await.unwrap());
    assert_eq!(gateway.version().as_deref(), Some(second.as_str()));
    assert_eq!(
        gateway.versions().await.unwrap(),
        [first.clone(), second.clone()]
    );

    // A rollback on the gateway is served there at once and by the worker at its next look.
    gateway.rollback(&first).await.unwrap();
    assert_eq!(gateway.version().as_deref(), Some(first.as_str()));
    assert_eq!(worker.version().as_deref(), Some(second.as_str()));
    assert!(worker.follow().await.unwrap());
    assert_eq!(worker.version().as_deref(), Some(first.as_str()));
    assert_eq!(
        top(&worker, &customers[1]).await.0.as_deref(),
        Some(first.as_str())
    );
    // Both versions stay kept; an unknown one is refused and changes nothing.
    assert_eq!(
        worker.versions().await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert!(matches!(
        gateway.rollback("20990101T000000.000Z-ffff").await,
        Err(RecommendError::InvalidInput(_))
    ));
    assert_eq!(gateway.version().as_deref(), Some(first.as_str()));

    // A replica that starts now serves the rolled-back version straight from the store.
    let late = replica(&store);
    assert!(late.follow().await.unwrap());
    assert_eq!(late.version().as_deref(), Some(first.as_str()));
}

#[tokio::test]
async fn the_store_keeps_the_last_five_versions_and_the_one_served() {
    let (store, _database) = fresh_postgres().await;
    let store = Arc::new(store);
    let worker = replica(&store);
    worker.seed_demo_catalogue().await.unwrap();
    let mut trained = Vec::new();
    for _ in 0..3 {
        trained.push(worker.train().await.unwrap().version);
    }
    worker.rollback(&trained[0]).await.unwrap();
    for _ in 0..5 {
        trained.push(worker.train().await.unwrap().version);
    }
    // Training serves what it trained; the rollback target was no longer served and went
    // with the oldest.
    let kept = worker.versions().await.unwrap();
    assert_eq!(kept, trained[3..]);
    assert_eq!(
        worker.version().as_deref(),
        trained.last().map(String::as_str)
    );
    // A version no longer kept cannot be served again.
    assert!(matches!(
        worker.rollback(&trained[0]).await,
        Err(RecommendError::InvalidInput(_))
    ));
}
