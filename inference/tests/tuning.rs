//! Fine-tuning the multilingual encoder with candle (`finpulse train encoder`): the candle
//! encoder computes what ONNX Runtime computes on the same file, training changes it, and the
//! file it writes back is served by ONNX Runtime with the trained behaviour. Needs the models of
//! `scripts/setup-models.sh` (`make test` runs it).

use std::path::{Path, PathBuf};

use finpulse_inference::classifier::read_labelled_csv;
use finpulse_inference::tuning::{TrainableEncoder, TuneConfig, fine_tune};
use finpulse_inference::{Inference, InferenceConfig, InferenceMetrics, Manifest};
use sha2::Digest;

const E5: &str = "multilingual-e5-small";

fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models.toml")
}

/// The real manifest, and the files of e5 (model, tokenizer).
fn e5_files() -> (Manifest, PathBuf, PathBuf) {
    let manifest = Manifest::load(&manifest_path()).unwrap();
    let spec = manifest.models.iter().find(|m| m.name == E5).unwrap();
    let (model, tokenizer) = (
        manifest.resolve(&spec.file),
        manifest.resolve(&spec.tokenizer),
    );
    (manifest, model, tokenizer)
}

/// Vectors of `texts` from the model `name` of the manifest at `path`, through ONNX Runtime.
async fn onnx_runtime_vectors(path: &Path, name: &str, texts: &[&str]) -> Vec<Vec<f32>> {
    let inference = Inference::load(
        &InferenceConfig {
            manifest: path.to_path_buf(),
            ..InferenceConfig::default()
        },
        &InferenceMetrics::unregistered(),
    )
    .expect("models load (run scripts/setup-models.sh)");
    let embedder = inference.embedder(Some(name)).unwrap();
    embedder
        .embed(texts.iter().map(|t| (*t).to_owned()).collect())
        .await
        .unwrap()
}

fn worst_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

/// Texts of several lengths (so the batch is padded) and languages.
const TEXTS: [&str; 5] = [
    "My card was declined at the supermarket",
    "Meine Karte wurde gesperrt, was soll ich tun?",
    "¿Cuándo llega mi transferencia?",
    "Je voudrais clôturer mon compte d'épargne et transférer le solde vers mon compte courant",
    "hi",
];

#[tokio::test]
async fn the_candle_encoder_computes_what_onnx_runtime_computes() {
    let (_, model, tokenizer) = e5_files();
    let candle = TrainableEncoder::load(&model, &tokenizer, 512)
        .unwrap()
        .embed(&TEXTS)
        .unwrap();
    let served = onnx_runtime_vectors(&manifest_path(), E5, &TEXTS).await;
    let worst = worst_difference(&candle, &served);
    assert!(worst < 1e-4, "candle and ONNX Runtime differ by {worst}");
    for vector in &candle {
        let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");
    }
}

/// The labelled fixture tickets, e5 ready to train, and its vectors of [`TEXTS`] before.
fn fixture_encoder(
    model: &Path,
    tokenizer: &Path,
) -> (Vec<(String, String)>, TrainableEncoder, Vec<Vec<f32>>) {
    let examples = read_labelled_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/support_tickets.csv"),
    )
    .unwrap();
    let encoder = TrainableEncoder::load(model, tokenizer, 64).unwrap();
    let before = encoder.embed(&TEXTS).unwrap();
    (examples, encoder, before)
}

#[tokio::test]
async fn tuning_reports_every_epoch_and_keeps_the_best_one() {
    let (_, model, tokenizer) = e5_files();
    let (examples, mut encoder, before) = fixture_encoder(&model, &tokenizer);
    let config = TuneConfig {
        epochs: 2,
        batch: 8,
        // Larger steps than the default so two short epochs move the weights.
        learning_rate: 1e-4,
        ..TuneConfig::default()
    };
    let steps = std::sync::atomic::AtomicUsize::new(0);
    let report = fine_tune(&mut encoder, &examples, None, &config, &|p| {
        assert!(p.step <= p.steps && p.loss.is_finite(), "{p:?}");
        if p.validation.is_none() {
            steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .unwrap();
    eprintln!("{report:?}");
    let epochs: Vec<usize> = report.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![0, 1, 2]);
    assert_eq!(
        steps.into_inner(),
        2 * report.fitted_on.div_ceil(8),
        "a progress report per step"
    );
    // Both reports are on the same held-out examples, and the kept epoch is the best one.
    assert_eq!(report.frozen.held_out, report.tuned.held_out);
    assert!(report.frozen.held_out >= 12);
    let best = report
        .epochs
        .iter()
        .map(|e| e.accuracy)
        .fold(0.0f32, f32::max);
    assert_eq!(report.epochs[report.kept_epoch].accuracy, best);

    let after = encoder.embed(&TEXTS).unwrap();
    let moved = worst_difference(&before, &after);
    if report.kept_epoch == 0 {
        assert_eq!(moved, 0.0, "epoch 0 kept: the encoder is as it was");
    } else {
        assert!(moved > 1e-3, "training moved the vectors by only {moved}");
    }
}

/// The write-back on weights that certainly changed: early stopping off keeps the trained
/// epoch, whatever it scores (on this fixture the frozen encoder already classifies the
/// validation tickets right, and dropout makes runs differ, so the best epoch is often 0; a
/// write-back of the unchanged encoder would prove nothing).
#[tokio::test]
async fn a_trained_encoder_is_written_back_and_served_by_onnx_runtime() {
    let (manifest, model, tokenizer) = e5_files();
    let (examples, mut encoder, before) = fixture_encoder(&model, &tokenizer);
    let config = TuneConfig {
        epochs: 1,
        batch: 8,
        learning_rate: 1e-4,
        keep_best: false,
        ..TuneConfig::default()
    };
    let report = fine_tune(&mut encoder, &examples, None, &config, &|_| {}).unwrap();
    assert_eq!(
        report.kept_epoch, 1,
        "the trained epoch is kept: {report:?}"
    );
    let after = encoder.embed(&TEXTS).unwrap();
    let moved = worst_difference(&before, &after);
    assert!(moved > 1e-3, "training moved the vectors by only {moved}");

    // Written back, ONNX Runtime serves what candle trained.
    let dir = tempfile::tempdir().unwrap();
    let file = encoder.to_onnx().unwrap();
    std::fs::write(dir.path().join("model.onnx"), &file).unwrap();
    std::fs::copy(&tokenizer, dir.path().join("tokenizer.json")).unwrap();
    let sha = |bytes: &[u8]| format!("{:x}", sha2::Sha256::digest(bytes));
    let runtime = manifest.resolve(&manifest.runtime.file);
    let body = format!(
        r#"dir = {dir:?}
[runtime]
file = {runtime:?}
sha256 = "{runtime_sha}"
license = "MIT"

[[models]]
name = "e5-tuned"
version = "test"
task = "embedding"
description = "e5 fine-tuned in a test"
license = "MIT"
file = "model.onnx"
sha256 = "{model_sha}"
tokenizer = "tokenizer.json"
tokenizer_sha256 = "{tokenizer_sha}"
inputs = ["input_ids", "attention_mask"]
output = "last_hidden_state"
pooling = "mean"
normalize = true
dimension = 384
max_length = 64
"#,
        dir = dir.path().display().to_string(),
        runtime = runtime.display().to_string(),
        runtime_sha = manifest.runtime.sha256,
        model_sha = sha(&file),
        tokenizer_sha = sha(&std::fs::read(&tokenizer).unwrap()),
    );
    let tuned_manifest = dir.path().join("models.toml");
    std::fs::write(&tuned_manifest, body).unwrap();
    let served = onnx_runtime_vectors(&tuned_manifest, "e5-tuned", &TEXTS).await;
    let worst = worst_difference(&after, &served);
    assert!(
        worst < 1e-4,
        "the written file serves vectors {worst} away from candle's"
    );
}

#[test]
fn a_model_of_another_graph_is_refused_with_a_clear_error() {
    let manifest = Manifest::load(&manifest_path()).unwrap();
    let minilm = manifest
        .models
        .iter()
        .find(|m| m.name == "minilm-l6-v2")
        .unwrap();
    let error = TrainableEncoder::load(
        &manifest.resolve(&minilm.file),
        &manifest.resolve(&minilm.tokenizer),
        64,
    )
    .err()
    .expect("MiniLM's graph is not the converted e5 graph");
    assert!(error.to_string().contains("convert-e5"), "{error}");
    let error = TrainableEncoder::load(Path::new("/no/such/model.onnx"), Path::new("x"), 64)
        .err()
        .unwrap();
    assert!(error.to_string().contains("/no/such/model.onnx"), "{error}");
}
