//! The classifier's offline commands: `finpulse train classifier` (a labelled CSV in, a
//! trained head out, with its held-out report) and `finpulse eval classifier` (a trained head
//! and a labelled CSV in, accuracy, macro-F1 and per-label scores out).

use anyhow::Context;
use finpulse_inference::classifier::read_labelled_csv;
use finpulse_inference::{Classifier, Inference, TrainConfig};

use crate::config::Config;

/// The embedding model the classifier heads sit on.
async fn load_models(config: &Config) -> anyhow::Result<Inference> {
    crate::backends::load_offline_models(config)
        .await?
        .context("the classifier needs the embedding model (run `make models`)")
}

/// Prints a classifier's report as a table.
fn print_report(report: &finpulse_inference::classifier::Report, against: &str) {
    println!(
        "{against}: {} examples, accuracy {:.4} (majority baseline {:.4}), macro-F1 {:.4}",
        report.held_out, report.accuracy, report.majority_baseline, report.macro_f1
    );
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>8}",
        "label", "precision", "recall", "f1", "support"
    );
    if let Some(fusion) = &report.fusion {
        println!(
            "fused (lexical weight {:.1}): embedding head alone {:.4}, TF-IDF head alone {:.4} ({} terms)",
            fusion.lexical_weight,
            fusion.embedding_accuracy,
            fusion.lexical_accuracy,
            fusion.vocabulary
        );
    }
    for (label, score) in &report.per_label {
        println!(
            "{label:<24} {:>9.3} {:>9.3} {:>9.3} {:>8}",
            score.precision, score.recall, score.f1, score.support
        );
    }
}

/// Trains, evaluates and saves a classifier; prints the report on the held-out split or on
/// the test file.
pub async fn train_classifier(
    config: &Config,
    data: &std::path::Path,
    out: &std::path::Path,
    test: Option<&std::path::Path>,
    model: Option<&str>,
    train: TrainConfig,
) -> anyhow::Result<()> {
    let examples = read_labelled_csv(data)?;
    let test_examples = test.map(read_labelled_csv).transpose()?;
    let inference = load_models(config).await?;
    let embedder = inference.embedder(model)?;
    println!(
        "training on {} examples with {} embeddings",
        examples.len() - (examples.len() as f32 * train.holdout).round() as usize,
        embedder.info().name
    );
    let mut classifier = Classifier::train(&embedder, &examples, &train).await?;
    println!(
        "L2 {} for {} passes{}",
        classifier.report.l2,
        classifier.report.epochs,
        if train.tune {
            " (chosen on a validation fifth of the training data)"
        } else {
            ""
        }
    );
    if train.lexical && !classifier.is_fused() {
        println!("the TF-IDF head did not help on the validation fifth: the embedding head alone");
    }
    match (test, test_examples) {
        (Some(test), Some(test_examples)) => {
            let (l2, epochs) = (classifier.report.l2, classifier.report.epochs);
            classifier.report = classifier
                .evaluate_examples(&embedder, &test_examples)
                .await?;
            (classifier.report.l2, classifier.report.epochs) = (l2, epochs);
            print_report(&classifier.report, &format!("test {}", test.display()));
        }
        _ => print_report(&classifier.report, "held-out split"),
    }
    classifier.save(out)?;
    println!("saved to {}", out.display());
    Ok(())
}

/// `finpulse eval classifier`: a saved classifier on a labelled file.
pub async fn eval_classifier(
    config: &Config,
    model: &std::path::Path,
    data: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let classifier = Classifier::load(model)?;
    let examples = read_labelled_csv(data)?;
    let inference = load_models(config).await?;
    let embedder = inference
        .embedder(Some(&classifier.embedding_model))
        .with_context(|| {
            format!(
                "{} was trained on `{}`, which the manifest does not have",
                model.display(),
                classifier.embedding_model
            )
        })?;
    let report = classifier.evaluate_examples(&embedder, &examples).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"accuracy": report.accuracy, "macro_f1": report.macro_f1})
        );
        return Ok(());
    }
    print_report(&report, &data.display().to_string());
    Ok(())
}
