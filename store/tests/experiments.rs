//! The experiments repository on both engines, each test on a fresh database: definitions
//! round-trip, impressions are kept once, outcomes are flags, counts and traffic add up.

use chrono::{Duration, TimeZone, Utc};
use finpulse_core::recommend::experiment::{
    Experiment, Guardrail, Impression, Mode, Outcome, Status, Variant,
};
use finpulse_store::ExperimentData;

fn experiment(id: &str, created_secs: i64) -> Experiment {
    Experiment {
        id: id.into(),
        description: "hybrid against popularity".into(),
        salt: format!("{id}-salt"),
        variants: ["hybrid", "popularity"]
            .map(|name| Variant {
                name: name.into(),
                strategy: name.into(),
                weight: 1.0,
            })
            .to_vec(),
        mode: Mode::Bandit,
        guardrail: Guardrail::default(),
        conversion_window_secs: 3600,
        status: Status::Draft,
        created_at: Utc.timestamp_opt(1_700_000_000 + created_secs, 0).unwrap(),
        started_at: None,
        stopped_at: None,
        stopped_variants: Vec::new(),
    }
}

fn impression(id: &str, variant: &str, at_secs: i64) -> Impression {
    let at = Utc.timestamp_opt(1_700_000_000 + at_secs, 0).unwrap();
    Impression {
        recommendation_id: id.into(),
        experiment: "e1".into(),
        variant: variant.into(),
        user: "alice".into(),
        items: vec!["ETF-1".into(), "NEWS-2".into()],
        at,
        expires_at: at + Duration::hours(1),
    }
}

async fn experiments_round_trip(store: impl ExperimentData) {
    assert!(store.create_experiment(&experiment("e1", 0)).await.unwrap());
    assert!(
        store
            .create_experiment(&experiment("e2", 10))
            .await
            .unwrap()
    );
    // A taken id changes nothing.
    let mut clash = experiment("e1", 20);
    clash.description = "another".into();
    assert!(!store.create_experiment(&clash).await.unwrap());
    let kept = store.experiments().await.unwrap();
    let ids: Vec<&str> = kept.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2", "e1"], "newest first");
    assert_eq!(kept[1], experiment("e1", 0));

    let mut running = experiment("e1", 0);
    running.status = Status::Running;
    running.started_at = Some(Utc::now());
    running.stopped_variants = vec!["popularity".into()];
    assert!(store.update_experiment(&running).await.unwrap());
    assert!(
        !store
            .update_experiment(&experiment("nope", 0))
            .await
            .unwrap()
    );
    let kept = store.experiments().await.unwrap();
    let e1 = kept.iter().find(|e| e.id == "e1").unwrap();
    assert_eq!(e1.status, Status::Running);
    assert_eq!(e1.stopped_variants, ["popularity"]);
}

async fn impressions_count_once_with_flagged_outcomes(store: impl ExperimentData) {
    let shown = [
        impression("r1", "hybrid", 0),
        impression("r2", "hybrid", 30),
        impression("r3", "popularity", 70),
        impression("r4", "popularity", 130),
    ];
    store.record_impressions(&shown).await.unwrap();
    // A redelivered list is not a second impression.
    store.record_impressions(&shown[..1]).await.unwrap();
    let read = store
        .impressions(&["r1".into(), "r3".into(), "unknown".into()])
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    let r1 = read.iter().find(|i| i.recommendation_id == "r1").unwrap();
    assert_eq!(r1, &shown[0]);

    store
        .record_outcomes(&[
            ("r1".into(), Outcome::Click),
            ("r1".into(), Outcome::Click),
            ("r1".into(), Outcome::Conversion),
            ("r3".into(), Outcome::Dismissal),
            ("r4".into(), Outcome::Conversion),
        ])
        .await
        .unwrap();
    let counts = store.experiment_counts("e1").await.unwrap();
    assert_eq!(counts.len(), 2);
    let (name, hybrid) = &counts[0];
    assert_eq!(name, "hybrid");
    assert_eq!(
        (
            hybrid.impressions,
            hybrid.clicks,
            hybrid.conversions,
            hybrid.dismissals
        ),
        (2, 1, 1, 0),
        "a list clicked twice is one clicked list"
    );
    let (name, popularity) = &counts[1];
    assert_eq!(name, "popularity");
    assert_eq!(
        (
            popularity.impressions,
            popularity.clicks,
            popularity.conversions,
            popularity.dismissals
        ),
        (2, 0, 1, 1)
    );
    assert!(store.experiment_counts("e2").await.unwrap().is_empty());

    // Minute buckets: r1 and r2 in the first, r3 in the second, r4 in the third.
    let traffic = store.experiment_traffic("e1", 60).await.unwrap();
    let cells: Vec<(i64, &str, u64)> = traffic
        .iter()
        .map(|b| (b.from.timestamp(), b.variant.as_str(), b.impressions))
        .collect();
    let minute = |n: i64| (1_700_000_000 / 60 + n) * 60;
    assert_eq!(
        cells,
        [
            (minute(0), "hybrid", 2),
            (minute(1), "popularity", 1),
            (minute(2), "popularity", 1)
        ]
    );
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

macro_rules! experiment_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn experiments_round_trip() {
                let (store, _guard) = super::$engine().await;
                super::experiments_round_trip(store).await;
            }
            #[tokio::test]
            async fn impressions_count_once_with_flagged_outcomes() {
                let (store, _guard) = super::$engine().await;
                super::impressions_count_once_with_flagged_outcomes(store).await;
            }
        }
    };
}

experiment_conformance!(sqlite);
experiment_conformance!(postgres);
