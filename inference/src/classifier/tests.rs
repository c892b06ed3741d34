//! The classifier's unit tests: training, tuning, fusion, saving.
use super::*;
use data::shuffle;

#[test]
fn softmax_regression_separates_separable_points() {
    // Two labels on either side of a line in 2-d.
    let points: Vec<(Vec<f32>, usize)> = (0..40)
        .map(|i| {
            let x = (i as f32 / 40.0) * 2.0 - 1.0;
            let label = usize::from(x > 0.0);
            (vec![x, 0.3], label)
        })
        .collect();
    let mut classifier = Classifier {
        embedding_model: "test".into(),
        dimension: 2,
        labels: vec!["neg".into(), "pos".into()],
        weights: vec![0.0; 4],
        bias: vec![0.0; 2],
        lexical: None,
        report: Report {
            trained_on: 0,
            held_out: 0,
            accuracy: 0.0,
            macro_f1: 0.0,
            majority_baseline: 0.0,
            l2: 0.0,
            epochs: 0,
            per_label: BTreeMap::new(),
            fusion: None,
        },
    };
    let set: Vec<(&[f32], usize)> = points.iter().map(|(x, y)| (x.as_slice(), *y)).collect();
    classifier.fit(&set, 500, 1e-4, 0.05, None);
    let report = classifier.evaluate(&set, &set, None);
    assert!(report.accuracy >= 0.95, "{report:?}");
    let sure = classifier.predict(&[0.9, 0.3]).unwrap();
    assert_eq!(sure.label, "pos");
    assert!(sure.confidence > 0.9);
    let unsure = classifier.predict(&[0.0, 0.3]).unwrap();
    assert!(unsure.confidence < 0.7, "near the line: {unsure:?}");
    assert!(classifier.predict(&[1.0]).is_err());
}

/// Three noisy clusters in 4-d: enough overlap that settings matter.
fn clusters() -> (Vec<Vec<f32>>, Vec<String>) {
    let mut state = 7u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let centres = [
        [1.0, 0.0, 0.0, 0.2],
        [0.0, 1.0, 0.0, 0.2],
        [0.0, 0.0, 1.0, 0.2],
    ];
    let (mut vectors, mut labels) = (Vec::new(), Vec::new());
    for i in 0..120 {
        let c = i % 3;
        vectors.push(centres[c].iter().map(|x| x + 1.2 * noise()).collect());
        labels.push(format!("c{c}"));
    }
    (vectors, labels)
}

#[test]
fn a_lexical_head_is_fused_in_where_words_decide_and_survives_a_save() {
    // Three labels whose vectors are pure noise, told apart by one word each among
    // shared filler: the embedding head cannot learn them, the TF-IDF head can.
    let (noise, _) = clusters();
    let words = ["refund", "password", "dividend"];
    let fillers = ["please help me with my", "question about the", "I need the"];
    let (mut texts, mut labels, mut vectors) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..120 {
        let c = i % 3;
        texts.push(format!(
            "{} {} now {}",
            fillers[(i / 3) % 3],
            words[c],
            i % 7
        ));
        labels.push(format!("c{c}"));
        // A vector from the cluster of `(i / 3) % 3`, which says nothing of `i % 3`.
        vectors.push(noise[(i / 3) * 3 + (i / 3) % 3].clone());
    }
    let config = TrainConfig {
        epochs: 300,
        ..TrainConfig::default()
    };
    let fused = Classifier::train_inner("m", 4, &vectors, Some(&texts), &labels, &config).unwrap();
    assert!(fused.is_fused());
    let halves = fused.report.fusion.clone().expect("a fused report");
    assert!(halves.lexical_weight > 0.0, "{halves:?}");
    assert!(halves.lexical_accuracy > 0.9, "{halves:?}");
    assert!(halves.embedding_accuracy < 0.6, "{halves:?}");
    assert!(fused.report.accuracy > 0.9, "{:?}", fused.report);
    // Without texts (or with `lexical` off) the same data trains the embedding head only.
    let plain = Classifier::train_on_vectors("m", 4, &vectors, &labels, &config).unwrap();
    assert!(!plain.is_fused() && plain.report.fusion.is_none());
    assert!(plain.report.accuracy < 0.6, "{:?}", plain.report);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fused.json");
    fused.save(&path).unwrap();
    let loaded = Classifier::load(&path).unwrap();
    let text = "I need the refund now";
    assert_eq!(
        loaded.predict_text(text, &vectors[0]).unwrap(),
        fused.predict_text(text, &vectors[0]).unwrap()
    );
    assert_eq!(loaded.predict_text(text, &vectors[0]).unwrap().label, "c0");
    // A file whose lexical head does not fit its vocabulary is refused.
    let mut broken: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    broken["lexical"]["head"]["bias"] = serde_json::json!([0.0]);
    std::fs::write(&path, broken.to_string()).unwrap();
    assert!(Classifier::load(&path).is_err());
}

#[test]
fn tuning_picks_from_the_grid_and_refitting_keeps_the_held_out_report() {
    let (vectors, labels) = clusters();
    let tuned = TrainConfig {
        epochs: 400,
        ..TrainConfig::default()
    };
    let a = Classifier::train_on_vectors("m", 4, &vectors, &labels, &tuned).unwrap();
    assert!(L2_GRID.contains(&a.report.l2), "{:?}", a.report);
    assert!((1..=400).contains(&a.report.epochs), "{:?}", a.report);
    assert_eq!((a.report.trained_on, a.report.held_out), (90, 30));
    assert!(a.report.accuracy > 0.6, "{:?}", a.report);
    // Deterministic for a seed.
    let again = Classifier::train_on_vectors("m", 4, &vectors, &labels, &tuned).unwrap();
    assert_eq!(again.weights, a.weights);
    // Refitted on everything: other weights, the same held-out report.
    let refit = TrainConfig {
        refit_all: true,
        ..tuned.clone()
    };
    let b = Classifier::train_on_vectors("m", 4, &vectors, &labels, &refit).unwrap();
    assert_eq!(b.report, a.report);
    assert_ne!(b.weights, a.weights);
    // Untuned: exactly the settings given.
    let fixed = TrainConfig {
        tune: false,
        epochs: 50,
        l2: 1e-3,
        ..TrainConfig::default()
    };
    let c = Classifier::train_on_vectors("m", 4, &vectors, &labels, &fixed).unwrap();
    assert_eq!((c.report.l2, c.report.epochs), (1e-3, 50));
}

#[test]
fn the_split_is_a_seeded_permutation() {
    let mut a: Vec<u32> = (0..20).collect();
    let mut b = a.clone();
    shuffle(&mut a, 7);
    shuffle(&mut b, 7);
    assert_eq!(a, b);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    assert_ne!(a, (0..20).collect::<Vec<_>>());
}
