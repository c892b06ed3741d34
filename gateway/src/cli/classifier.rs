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
    let mut classifier = Classifier::train(&embedder, &examples, &train).await?;
    println!(
        "trained on {} of {} examples with {} embeddings",
        classifier.report.trained_on,
        examples.len(),
        embedder.info().name
    );
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
            // The report becomes the test file's; how the model was trained stays.
            let trained = classifier.report.clone();
            classifier.report = classifier
                .evaluate_examples(&embedder, &test_examples)
                .await?;
            classifier.report.l2 = trained.l2;
            classifier.report.epochs = trained.epochs;
            classifier.report.trained_on = trained.trained_on;
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

/// `finpulse train encoder`: fine-tunes the multilingual encoder on a labelled file, writes
/// the tuned model (ONNX and its tokenizer) to `out`, prints the classifier's report on frozen
/// and tuned vectors side by side, and the manifest entry that serves the tuned model.
pub async fn train_encoder(
    config: &Config,
    data: &std::path::Path,
    out: &std::path::Path,
    test: Option<&std::path::Path>,
    model: &str,
    max_length: usize,
    tune: finpulse_inference::tuning::TuneConfig,
) -> anyhow::Result<()> {
    use finpulse_inference::Manifest;
    use finpulse_inference::tuning::{TrainableEncoder, fine_tune};
    use indicatif::{ProgressBar, ProgressStyle};
    use sha2::Digest;

    let examples = read_labelled_csv(data)?;
    let test_examples = test.map(read_labelled_csv).transpose()?;
    let manifest = Manifest::load(&config.inference.manifest)?;
    let spec = manifest
        .models
        .iter()
        .find(|m| m.name == model)
        .with_context(|| format!("the manifest has no model `{model}`"))?;
    let (model_path, tokenizer_path) = (
        manifest.resolve(&spec.file),
        manifest.resolve(&spec.tokenizer),
    );
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    // Absolute, so the printed manifest entry works wherever the manifest is.
    let out = &std::fs::canonicalize(out)?;
    println!(
        "fine-tuning {model} on {} examples ({} epochs at most, batches of {})",
        examples.len(),
        tune.epochs,
        tune.batch
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps, epoch {msg} [{elapsed} / ~{eta}]",
        )
        .context("progress template")?,
    );
    let progress_bar = bar.clone();
    let (tuned, report) = tokio::task::spawn_blocking(move || {
        let mut encoder = TrainableEncoder::load(&model_path, &tokenizer_path, max_length)?;
        let report = fine_tune(
            &mut encoder,
            &examples,
            test_examples.as_deref(),
            &tune,
            &move |p| {
                if let Some(score) = p.validation {
                    // Printed also when the bar is hidden (no terminal).
                    progress_bar.suspend(|| {
                        println!(
                            "epoch {}: validation accuracy {:.4}, cross-entropy {:.4}",
                            score.epoch, score.accuracy, score.loss
                        )
                    });
                    return;
                }
                progress_bar.set_length(p.steps as u64);
                progress_bar.set_position(p.step as u64);
                progress_bar.set_message(format!("{}, loss {:.3}", p.epoch, p.loss));
            },
        )?;
        Ok::<_, finpulse_inference::InferenceError>((encoder.to_onnx()?, report))
    })
    .await
    .context("fine-tuning stopped")??;
    bar.finish_and_clear();
    let report = &report;
    println!(
        "trained on {} examples, early stopping on {} (validation accuracy by epoch: {})",
        report.fitted_on,
        report.validated_on,
        report
            .epochs
            .iter()
            .map(|e| format!("{} {:.4}", e.epoch, e.accuracy))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if report.kept_epoch == 0 {
        println!("no epoch beat the encoder as it was on validation: the tuned model is unchanged");
    } else {
        println!("kept the weights of epoch {}", report.kept_epoch);
    }
    let against = test.map_or_else(
        || "held-out split".to_owned(),
        |t| format!("test {}", t.display()),
    );
    print_report(&report.frozen, &format!("frozen encoder, {against}"));
    print_report(&report.tuned, &format!("tuned encoder, {against}"));
    let model_out = out.join("model.onnx");
    let tokenizer_out = out.join("tokenizer.json");
    std::fs::write(&model_out, &tuned)
        .with_context(|| format!("failed to write {}", model_out.display()))?;
    std::fs::copy(manifest.resolve(&spec.tokenizer), &tokenizer_out)
        .with_context(|| format!("failed to write {}", tokenizer_out.display()))?;
    let sha = |bytes: &[u8]| format!("{:x}", sha2::Sha256::digest(bytes));
    let model_sha = sha(&tuned);
    let tokenizer_sha = sha(&std::fs::read(&tokenizer_out)?);
    println!(
        "wrote {} and {}; to serve it, add to the manifest (paths as seen from its `dir`):\n\n\
         [[models]]\nname = \"{model}-tuned\"\nversion = \"tuned-{}\"\ntask = \"embedding\"\n\
         description = {:?}\nlicense = {:?}\nfile = {:?}\nsha256 = \"{model_sha}\"\n\
         tokenizer = {:?}\ntokenizer_sha256 = \"{tokenizer_sha}\"\ninputs = {:?}\noutput = \"{}\"\n\
         pooling = \"mean\"\nnormalize = true\ndimension = {}\nmax_length = {}\n\
         query_prefix = {:?}\npassage_prefix = {:?}\n\n\
         then `finpulse train classifier --model {model}-tuned …`",
        model_out.display(),
        tokenizer_out.display(),
        &model_sha[..12],
        format!("{model} fine-tuned on {}", data.display()),
        spec.license,
        model_out.display().to_string(),
        tokenizer_out.display().to_string(),
        spec.inputs,
        spec.output,
        spec.dimension,
        spec.max_length,
        spec.query_prefix,
        spec.passage_prefix,
    );
    Ok(())
}
