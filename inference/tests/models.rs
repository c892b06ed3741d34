//! The models themselves, through ONNX Runtime: the files `scripts/setup-models.sh` fetches
//! (`make test` runs it). Reference vectors come from Python onnxruntime + tokenizers
//! (`scripts/fixtures/embeddings.sh`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use finpulse_inference::summarize::{Length, split_sentences, summarize};
use finpulse_inference::{Inference, InferenceConfig, InferenceError, InferenceMetrics};
use serde_json::Value;

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models.toml")
}

fn load(config: InferenceConfig) -> (Inference, InferenceMetrics) {
    let metrics = InferenceMetrics::unregistered();
    let inference =
        Inference::load(&config, &metrics).expect("models load (run scripts/setup-models.sh)");
    (inference, metrics)
}

fn default_config() -> InferenceConfig {
    InferenceConfig {
        manifest: manifest(),
        ..InferenceConfig::default()
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn embeddings_equal_python_onnxruntime_one_by_one_and_batched() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embeddings.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let sentences: Vec<String> = fixture["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<Vec<f32>> = fixture["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let (inference, _) = load(default_config());
    let embedder = inference.embedder(None).unwrap();
    assert_eq!(embedder.info().dimension, 384);

    let batched = embedder.embed(sentences.clone()).await.unwrap();
    let mut single = Vec::new();
    for sentence in &sentences {
        single.push(embedder.embed_one(sentence).await.unwrap());
    }
    for (i, want) in expected.iter().enumerate() {
        for (got, how) in [(&batched[i], "batched"), (&single[i], "alone")] {
            assert_eq!(got.len(), 384);
            let worst = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "sentence {i} {how}: differs by {worst}");
            let norm = cosine(got, got).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");
        }
    }
}

#[tokio::test]
async fn paraphrases_are_closer_than_unrelated_sentences() {
    let (inference, _) = load(default_config());
    let embedder = inference.embedder(Some("minilm-l6-v2")).unwrap();
    let pairs = [
        (
            "I was charged twice for one payment",
            "My card was billed two times for the same purchase",
            "What time does the stock market open tomorrow?",
        ),
        (
            "How do I change my password?",
            "I want to reset the password of my account",
            "Oil prices jumped after the OPEC meeting",
        ),
        (
            "The central bank raised interest rates",
            "Rates were hiked by the Federal Reserve",
            "My favourite colour is green",
        ),
    ];
    for (a, paraphrase, unrelated) in pairs {
        let v = embedder
            .embed(vec![a.into(), paraphrase.into(), unrelated.into()])
            .await
            .unwrap();
        let close = cosine(&v[0], &v[1]);
        let far = cosine(&v[0], &v[2]);
        assert!(
            close > far + 0.2,
            "{a:?}: paraphrase {close}, unrelated {far}"
        );
    }
}

#[tokio::test]
async fn the_multilingual_encoder_matches_translations_across_languages() {
    // Converted by scripts/convert-e5.py; MiniLM, English-only, cannot do this.
    let (inference, _) = load(default_config());
    let e5 = inference.embedder(Some("multilingual-e5-small")).unwrap();
    assert_eq!(e5.info().query_prefix, "query: ");
    let english = "query: Why was my card payment declined?";
    let translations = [
        "query: Warum wurde meine Kartenzahlung abgelehnt?",
        "query: Pourquoi mon paiement par carte a-t-il été refusé ?",
        "query: ¿Por qué se rechazó mi pago con tarjeta?",
    ];
    let unrelated = [
        "query: Wann öffnet die Börse morgen?",
        "query: Quel temps fera-t-il demain à Paris ?",
        "query: ¿Cuál es tu color favorito?",
    ];
    let mut texts = vec![english.to_owned()];
    texts.extend(translations.iter().chain(&unrelated).map(|t| t.to_string()));
    let v = e5.embed(texts).await.unwrap();
    for i in 0..3 {
        let translation = cosine(&v[0], &v[1 + i]);
        let other = cosine(&v[0], &v[4 + i]);
        assert!(
            translation > other + 0.05,
            "{}: translation {translation}, unrelated {other}",
            translations[i]
        );
    }
    // Padding (id 1 for XLM-R, from the converted tokenizer.json) changes nothing.
    let alone = e5.embed(vec![english.to_owned()]).await.unwrap();
    assert!(cosine(&alone[0], &v[0]) > 0.9999);
}

#[tokio::test]
async fn concurrent_calls_share_one_model_run() {
    // A batch closes when it is full or its wait is over: with a long wait, 16 concurrent
    // single-text calls can only be answered by one run of 16.
    let (inference, metrics) = load(InferenceConfig {
        max_batch: 16,
        max_wait: Duration::from_secs(30),
        ..default_config()
    });
    let embedder = inference.embedder(None).unwrap();
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let embedder = embedder.clone();
            tokio::spawn(async move { embedder.embed_one(&format!("sentence number {i}")).await })
        })
        .collect();
    let mut vectors = Vec::new();
    for call in calls {
        vectors.push(call.await.unwrap().unwrap());
    }
    let batches = metrics.batch_size.with_label_values(&["minilm-l6-v2"]);
    assert_eq!(batches.get_sample_count(), 1);
    assert_eq!(batches.get_sample_sum(), 16.0);
    // Each call got its own text's vector, in its place.
    let distinct =
        (0..16).all(|i| (0..16).all(|j| i == j || cosine(&vectors[i], &vectors[j]) < 0.9999));
    assert!(distinct, "every call received a different vector");
}

#[tokio::test]
async fn summaries_are_sentences_of_the_source_in_order() {
    let (inference, _) = load(default_config());
    let embedder = inference.embedder(None).unwrap();
    let text = "The Federal Reserve kept its benchmark rate unchanged on Wednesday. \
        Officials said inflation had eased but remained above the 2% target. \
        Chair Powell told reporters that rate cuts were not yet on the table. \
        Stocks rose modestly after the announcement. \
        Treasury yields fell across the curve. \
        Separately, a bakery in Ohio won a prize for its sourdough bread. \
        Analysts expect the Fed to hold rates steady until inflation falls further.";
    let source = split_sentences(text);
    let summary = summarize(&embedder, text, Length::Sentences(3))
        .await
        .unwrap();
    assert_eq!(summary.len(), 3);
    let positions: Vec<usize> = summary
        .iter()
        .map(|s| {
            source
                .iter()
                .position(|t| t == s)
                .expect("a sentence of the source")
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {positions:?}"
    );
    assert!(
        !summary.iter().any(|s| s.contains("sourdough")),
        "the off-topic sentence is left out: {summary:?}"
    );
    let half = summarize(&embedder, text, Length::Ratio(0.5))
        .await
        .unwrap();
    assert_eq!(half.len(), 4);
    assert!(
        summarize(&embedder, text, Length::Ratio(1.5))
            .await
            .is_err()
    );
    assert_eq!(
        summarize(&embedder, "Only one sentence here.", Length::Sentences(3))
            .await
            .unwrap(),
        vec!["Only one sentence here."]
    );
}

fn temp_manifest(name: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("fp-models-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("models.toml");
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

/// Loads a manifest with `body`, written in a folder of its own, expecting it to fail.
fn load_error(name: &str, body: &str) -> InferenceError {
    let (dir, path) = temp_manifest(name, body);
    let error = Inference::load(
        &InferenceConfig {
            manifest: path,
            ..InferenceConfig::default()
        },
        &InferenceMetrics::unregistered(),
    )
    .expect_err("the manifest does not load");
    std::fs::remove_dir_all(&dir).unwrap();
    error
}

#[test]
fn missing_or_altered_files_are_clear_errors() {
    let real = std::fs::read_to_string(manifest()).unwrap();
    // The same manifest in an empty folder: nothing is there.
    let error = load_error("missing", &real);
    assert!(matches!(error, InferenceError::Missing { .. }), "{error}");
    assert!(error.to_string().contains("setup-models"), "{error}");

    // The real files, but a model checksum that does not match.
    let models_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let altered = real
        .replace(
            "dir = \"models\"",
            &format!("dir = {:?}", models_dir.display().to_string()),
        )
        .replace(
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            &"0".repeat(64),
        );
    let error = load_error("altered", &altered);
    assert!(matches!(error, InferenceError::Checksum { .. }), "{error}");
}

#[tokio::test]
async fn a_classifier_trained_on_tickets_in_four_languages_beats_the_majority_baseline() {
    use finpulse_inference::classifier::read_labelled_csv;
    use finpulse_inference::{Classifier, TrainConfig};
    let (inference, _) = load(default_config());
    let embedder = inference.embedder(None).unwrap();
    let examples = read_labelled_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/support_tickets.csv"),
    )
    .unwrap();
    assert_eq!(examples.len(), 56);
    let classifier = Classifier::train(&embedder, &examples, &TrainConfig::default())
        .await
        .unwrap();
    let report = &classifier.report;
    assert_eq!(report.trained_on + report.held_out, 56);
    assert!(report.held_out >= 12, "{report:?}");
    eprintln!("{report:?}");
    assert!(
        report.accuracy >= report.majority_baseline + 0.4,
        "accuracy {} against a baseline of {}: {report:?}",
        report.accuracy,
        report.majority_baseline
    );
    assert!(report.macro_f1 >= 0.6, "{report:?}");

    // Saved and loaded, it answers the same, with a confidence callers can act on.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tickets.json");
    classifier.save(&path).unwrap();
    let loaded = Classifier::load(&path).unwrap();
    let text = "Someone used my credit card for a purchase I never made";
    let a = classifier.classify(&embedder, text).await.unwrap();
    let b = loaded.classify(&embedder, text).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.label, "card_payment", "{a:?}");
    assert!(a.confidence > 0.5, "{a:?}");
    assert_eq!(a.scores.len(), 4);
    std::fs::write(&path, "{\"not\": \"a classifier\"}").unwrap();
    assert!(Classifier::load(&path).is_err());
}

#[test]
fn a_logistic_scorer_written_by_us_runs_in_onnx_runtime() {
    use finpulse_inference::Manifest;
    use finpulse_inference::onnx::logistic_scorer;
    use finpulse_inference::onnx_ranker::OnnxRanker;
    let manifest = Manifest::load(&manifest()).unwrap();
    let spec = manifest
        .ranker
        .clone()
        .expect("models.toml has a [ranker] entry");
    assert_eq!(spec.features.len(), 8);
    let weights = [1.5f32, -0.75, 0.25, 2.0, -1.0, 0.5, 0.8, -0.2];
    let bytes = logistic_scorer(&weights, -0.3, &spec.input, &spec.output, "test");
    let ranker =
        OnnxRanker::from_bytes(&manifest, spec, &bytes, "test").expect("ONNX Runtime reads it");
    let rows: Vec<f32> = (0..24).map(|n| (n as f32 * 0.37).sin().abs()).collect();
    let scores = ranker.score(&rows).unwrap();
    assert_eq!(scores.len(), 3);
    // The same function by hand.
    for (row, score) in rows.chunks(8).zip(&scores) {
        let z: f32 = row.iter().zip(&weights).map(|(x, w)| x * w).sum::<f32>() - 0.3;
        let expected = 1.0 / (1.0 + (-z).exp());
        assert!((score - expected).abs() < 1e-5, "{score} vs {expected}");
    }
    assert!(ranker.score(&rows[..7]).is_err(), "a partial row");
    assert!(ranker.score(&[]).unwrap().is_empty());
    // A model without the contract's input is refused.
    let mut wrong = manifest.ranker.clone().unwrap();
    wrong.input = "other".into();
    assert!(OnnxRanker::from_bytes(&manifest, wrong, &bytes, "test").is_err());
}
