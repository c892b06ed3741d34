//! The recommender's offline commands: `finpulse eval recommender` (files in, figures out) and
//! `finpulse train recommender` (the store's interactions in, figures out, and a new version
//! every server serves).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

/// Runs `finpulse train recommender`; with `publish`, the ranker file is written and the model
/// trained on every interaction is kept in the store as the version every server serves.
pub async fn train_recommender(
    config: &Config,
    k: usize,
    json: bool,
    publish: bool,
) -> anyhow::Result<()> {
    use finpulse_recommend::eval::{Settings, evaluate, temporal_split};
    let service = open_service(config).await?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} positive interactions read {msg}")
            .context("progress template")?,
    );
    let rows = service
        .positive_rows(|count| bar.set_position(count as u64))
        .await
        .context("failed to read interactions")?;
    bar.finish_and_clear();
    if rows.is_empty() {
        anyhow::bail!(
            "the store holds no interactions to train on (finpulse import interactions FILE)"
        );
    }
    let (train, test) = temporal_split(&rows, 0.2);
    let settings = Settings::Tuned(config.recommend.service.model.clone());
    let evaluation = tokio::task::spawn_blocking(move || {
        evaluate(
            &train,
            &test,
            k,
            settings,
            std::path::Path::new("the store"),
        )
    })
    .await
    .context("training panicked")??;
    let report = &evaluation.report;
    let ranker = service
        .train_and_write_ranker(publish)
        .await
        .context("failed to train the learned ranker")?;
    let published = if publish {
        if let Err(error) = service.materialize_features(chrono::Utc::now()).await {
            tracing::warn!(%error, "feature materialization failed; the model is trained without recent popularity and momentum");
        }
        Some(
            service
                .train()
                .await
                .context("failed to train and publish the model")?,
        )
    } else {
        None
    };
    if json {
        let mut value = serde_json::to_value(report).context("report to json")?;
        value["ranker"] = match &ranker {
            Some((report, path)) => serde_json::json!({
                "file": path.as_ref().map(|p| p.display().to_string()),
                "served": path.is_some(),
                "users_measured": report.users_measured,
                "ndcg": report.ndcg_ranker,
                "ndcg_collaborative_order": report.ndcg_collaborative,
                "weights": report.model.weights,
                "bias": report.model.bias,
            }),
            None => serde_json::Value::Null,
        };
        value["published"] = match &published {
            Some(trained) => serde_json::json!({
                "version": trained.version,
                "model": trained.model,
                "items": trained.items,
                "users": trained.users,
                "interactions": trained.interactions,
            }),
            None => serde_json::Value::Null,
        };
        println!("{value}");
    } else {
        println!(
            "{} interactions; held out each customer's newest 20 %: {} customers, k = {k}",
            rows.len(),
            report.users
        );
        println!(
            "model {} ({}, recency {}): ndcg {:.4}, precision {:.4}, recall {:.4}; popularity ndcg {:.4}; trained in {:.2} s",
            evaluation.model,
            evaluation.config.describe(evaluation.model),
            evaluation.config.recency,
            report.ndcg,
            report.precision,
            report.recall,
            report.baseline.ndcg,
            report.train_s
        );
        match &ranker {
            Some((report, path)) => println!(
                "ranker {}: on {} customers' interactions after {}, ndcg@10 of its order {:.4} against {:.4} for the collaborative order of the same 50 candidates",
                match path {
                    Some(path) => format!("written to {}", path.display()),
                    None => "not written (it orders worse than the collaborative scores; lists keep the collaborative order)".to_owned(),
                },
                report.users_measured,
                report.cutoff.to_rfc3339(),
                report.ndcg_ranker,
                report.ndcg_collaborative
            ),
            None => println!("no ranker: too little history, or no models set up (make models)"),
        }
        match &published {
            Some(trained) => println!(
                "published version {} ({}, {} items, {} customers, {} interactions): every server serves it within {} s; rollbackRecommender returns to an earlier one",
                trained.version,
                trained.model,
                trained.items,
                trained.users,
                trained.interactions,
                config.recommend.service.follow_secs
            ),
            None => println!("dry run: nothing written or published"),
        }
    }
    Ok(())
}

/// The recommender service over the configured store, with the embedding model when models
/// are set up (content similarity, as serving has it). Its log and fan-out are in process: it
/// trains and publishes, it serves no one.
async fn open_service(
    config: &Config,
) -> anyhow::Result<std::sync::Arc<finpulse_recommend::service::RecommendService>> {
    let models = if config.inference.enabled {
        match crate::backends::load_offline_models(config).await? {
            Ok(models) => Some(models),
            Err(error) => {
                tracing::warn!(%error, "no embedding model: the recommender is trained without content similarity");
                None
            }
        }
    } else {
        None
    };
    crate::domains::offline_recommender(config, models).await
}

/// Runs `finpulse eval recommender` and prints its report.
pub async fn eval_recommender(
    train: PathBuf,
    test: PathBuf,
    k: usize,
    json: bool,
    model: finpulse_recommend::models::CfKind,
    tune: bool,
) -> anyhow::Result<()> {
    use finpulse_recommend::eval::{Settings, evaluate_files};
    use finpulse_recommend::models::CfConfig;
    let config = CfConfig {
        kind: model,
        ..CfConfig::default()
    };
    let settings = if tune {
        Settings::Tuned(config)
    } else {
        Settings::Fixed(config)
    };
    let evaluation =
        tokio::task::spawn_blocking(move || evaluate_files(&train, &test, k, settings))
            .await
            .context("evaluation panicked")??;
    let report = &evaluation.report;
    let config = &evaluation.config;
    let parameters = config.describe(evaluation.model);
    let chosen = if evaluation.validation_ndcg.is_nan() {
        "default settings".to_owned()
    } else {
        let split = match evaluation.holdout {
            finpulse_recommend::models::Holdout::Newest => "newest-rows",
            finpulse_recommend::models::Holdout::Random { .. } => "random",
        };
        format!(
            "tuned on a {split} validation split, validation ndcg@{k} {:.4}",
            evaluation.validation_ndcg
        )
    };
    let settings = format!(
        "{} ({parameters}, recency {}; {chosen})",
        evaluation.model, config.recency
    );
    let [median, p99, max] = evaluation.latency_us;
    let latency =
        format!("top-{k} for one user: median {median:.0} µs, p99 {p99:.0} µs, max {max:.0} µs");
    if json {
        eprintln!("model: {settings}");
        eprintln!("{latency}");
        println!(
            "{}",
            serde_json::to_string(report).context("report to json")?
        );
        return Ok(());
    }
    println!("model: {settings}, trained in {:.2} s", report.train_s);
    println!("{} users, k = {k}; {latency}", report.users);
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "", "precision", "recall", "ndcg"
    );
    println!(
        "{:<12} {:>10.4} {:>10.4} {:>10.4}",
        "model", report.precision, report.recall, report.ndcg
    );
    let baseline = &report.baseline;
    println!(
        "{:<12} {:>10.4} {:>10.4} {:>10.4}",
        "popularity", baseline.precision, baseline.recall, baseline.ndcg
    );
    Ok(())
}

/// `finpulse eval faq`: retrieval quality on labelled queries, lexical, dense and fused.
pub async fn eval_faq(
    config: &Config,
    faq: &std::path::Path,
    queries: &std::path::Path,
    json: bool,
    models: &[String],
) -> anyhow::Result<()> {
    use finpulse_support::eval::{FaqEvaluationJson, evaluate_faq};
    use finpulse_support::retrieval::DenseModel;
    let parsed = finpulse_support::faq::read(faq)?;
    for skipped in parsed.skipped.iter().take(20) {
        eprintln!(
            "{}:{}: skipped: {}",
            faq.display(),
            skipped.line,
            skipped.reason
        );
    }
    if parsed.skipped.len() > 20 {
        eprintln!("… {} FAQ rows skipped in all", parsed.skipped.len());
    }
    let finpulse_support::faq::LabelledQueries {
        queries: queries_read,
        skipped,
    } = finpulse_support::faq::read_queries(queries)?;
    for row in skipped.iter().take(20) {
        eprintln!(
            "{}:{}: skipped: {}",
            queries.display(),
            row.line,
            row.reason
        );
    }
    let inference = crate::backends::load_offline_models(config)
        .await?
        .context("dense retrieval needs the embedding model (run `make models`)")?;
    let mut dense = Vec::with_capacity(models.len());
    for name in models {
        let embedder = inference.embedder(Some(name)).with_context(|| {
            format!("--model {name}: the manifest has no such embedding model (run `make models`)")
        })?;
        dense.push(DenseModel::new(std::sync::Arc::new(embedder)));
    }
    let entries = parsed.entries.len();
    let bar = ProgressBar::new(queries_read.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} queries {msg}")
            .context("progress template")?,
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let evaluation = evaluate_faq(parsed.entries, &queries_read, dense, |done| {
        bar.set_position(done as u64)
    })
    .await?;
    bar.finish_and_clear();
    if evaluation.unknown_ids > 0 {
        eprintln!(
            "{} queries name an id the FAQ does not have (counted as misses)",
            evaluation.unknown_ids
        );
    }
    let calibration = &evaluation.calibration;
    let fusion = if calibration.tried.is_empty() {
        format!(
            "{} (default: only {} leave-one-out questions to calibrate on)",
            calibration.chosen, calibration.queries
        )
    } else {
        format!(
            "{} (calibrated on {} leave-one-out questions of the FAQ)",
            calibration.chosen, calibration.queries
        )
    };
    if json {
        eprintln!("dense model: {}; fusion: {fusion}", evaluation.model);
        println!(
            "{}",
            serde_json::to_string(&FaqEvaluationJson::from(&evaluation))
                .context("report to json")?
        );
        return Ok(());
    }
    println!(
        "{entries} FAQ entries, {} queries; dense model {}; fusion: {fusion}",
        evaluation.queries, evaluation.model
    );
    println!(
        "{:<10} {:>8} {:>9} {:>9}",
        "", "mrr@5", "recall@1", "recall@5"
    );
    for (name, metrics) in [
        ("lexical", evaluation.lexical),
        ("dense", evaluation.dense),
        ("fused", evaluation.fused),
    ] {
        println!(
            "{name:<10} {:>8.4} {:>9.4} {:>9.4}",
            metrics.mrr5, metrics.recall1, metrics.recall5
        );
    }
    if !calibration.tried.is_empty() {
        println!();
        println!("calibration on the FAQ (leave-one-out mrr@5):");
        for (fusion, metrics) in &calibration.tried {
            println!("  {:<44} {:>8.4}", fusion.to_string(), metrics.mrr5);
        }
    }
    println!();
    println!(
        "{:<22} {:>7} {:>14} {:>14} {:>14}",
        "by query language", "queries", "lexical mrr@5", "dense mrr@5", "fused mrr@5"
    );
    for (group, metrics) in &evaluation.groups {
        println!(
            "{group:<22} {:>7} {:>14.4} {:>14.4} {:>14.4}",
            metrics.queries, metrics.lexical.mrr5, metrics.dense.mrr5, metrics.fused.mrr5
        );
    }
    Ok(())
}
