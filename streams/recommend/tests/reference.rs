//! The evaluation against an independent implementation (numpy EASE, item-kNN and popularity
//! with their own metric code, `scripts/recsys/reference.py`; see `fixtures/README.md`).

use std::path::{Path, PathBuf};

use finpulse_recommend::eval::{Evaluation, Settings, evaluate_files};
use finpulse_recommend::models::{AlsConfig, CfConfig, CfKind, EaseConfig, KnnConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference(model: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("reference.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|value| value["model"] == model)
        .unwrap()
}

fn evaluate_fixture(settings: Settings) -> Evaluation {
    evaluate_files(&fixture("train.tsv"), &fixture("test.tsv"), 10, settings).unwrap()
}

fn close(ours: f64, theirs: &serde_json::Value, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-9,
        "{what}: ours {ours}, reference {theirs}"
    );
}

#[test]
fn ease_and_popularity_match_the_numpy_reference() {
    let config = CfConfig {
        kind: CfKind::Ease,
        ease: EaseConfig { lambda: 20.0 },
        recency: 0.0,
        ..CfConfig::default()
    };
    let evaluation = evaluate_fixture(Settings::Fixed(config));
    let report = evaluation.report;
    let ease = reference("ease");
    assert_eq!(report.users as u64, ease["users"].as_u64().unwrap());
    close(report.precision, &ease["precision"], "ease precision");
    close(report.recall, &ease["recall"], "ease recall");
    close(report.ndcg, &ease["ndcg"], "ease ndcg");
    let popularity = reference("popularity");
    close(
        report.baseline.precision,
        &popularity["precision"],
        "popularity precision",
    );
    close(
        report.baseline.recall,
        &popularity["recall"],
        "popularity recall",
    );
    close(report.baseline.ndcg, &popularity["ndcg"], "popularity ndcg");
}

#[test]
fn item_knn_matches_the_numpy_reference() {
    let config = CfConfig {
        kind: CfKind::Knn,
        knn: KnnConfig {
            neighbours: 20,
            shrink: 10.0,
        },
        recency: 0.0,
        ..CfConfig::default()
    };
    let evaluation = evaluate_fixture(Settings::Fixed(config));
    assert_eq!(evaluation.model, "knn");
    let report = evaluation.report;
    let knn = reference("knn");
    assert_eq!(report.users as u64, knn["users"].as_u64().unwrap());
    close(report.precision, &knn["precision"], "knn precision");
    close(report.recall, &knn["recall"], "knn recall");
    close(report.ndcg, &knn["ndcg"], "knn ndcg");
}

#[test]
fn tuning_finds_the_recency_of_a_temporal_split_and_beats_popularity() {
    let evaluation = evaluate_files(
        &fixture("train.tsv"),
        &fixture("test.tsv"),
        10,
        Settings::Tuned(CfConfig::default()),
    )
    .unwrap();
    assert_eq!(
        evaluation.holdout,
        finpulse_recommend::models::Holdout::Newest
    );
    let report = evaluation.report;
    assert!(report.ndcg > report.baseline.ndcg * 1.2, "{report:?}");
}

#[test]
fn als_learns_the_taste_groups() {
    // four groups: a few factors with a firm penalty (64 free factors would memorise 200 users)
    let als = AlsConfig {
        factors: 8,
        regularization: 5.0,
        ..AlsConfig::default()
    };
    let config = CfConfig {
        kind: CfKind::Als,
        als,
        ..CfConfig::default()
    };
    let evaluation = evaluate_fixture(Settings::Fixed(config));
    let report = evaluation.report;
    assert_eq!(evaluation.model, "als");
    assert!(report.ndcg > report.baseline.ndcg, "{report:?}");
}
