//! `finpulse --help`: the subcommands and their flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{Application, MarketSource, open_store};
use crate::auth::{Authenticator, Grant};
use crate::config::{Config, Role};
use crate::telemetry;
use finpulse_graph::Role as UserRole;
use finpulse_inference::TrainConfig;

/// finpulse: a real-time AI push platform for fintech apps.
///
/// With no configuration it runs everything in one process: SQLite in `.finpulse/`, an
/// in-process event log, local fan-out and a built-in market simulator. Open
/// http://127.0.0.1:8000/graphiql once it is up.
#[derive(Debug, Parser)]
#[command(name = "finpulse", version, about, long_about)]
pub struct Cli {
    /// Configuration file (default: ./finpulse.toml when present).
    #[arg(long, short, global = true, env = "FINPULSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
/// A role on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TokenRole {
    /// A customer.
    Customer,
    /// A support agent.
    Agent,
    /// An operator.
    Admin,
}

impl From<TokenRole> for UserRole {
    fn from(role: TokenRole) -> Self {
        match role {
            TokenRole::Customer => UserRole::Customer,
            TokenRole::Agent => UserRole::Agent,
            TokenRole::Admin => UserRole::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform: GraphQL gateway, processors and the market simulator.
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long, env = "FINPULSE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// What this process does (overrides `role`): `gateway` serves GraphQL and sockets,
        /// `worker` runs the processors, `all` both. Gateway and worker need Kafka and Redis.
        #[arg(long, env = "FINPULSE_ROLE", value_enum)]
        role: Option<Role>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit; typed clients are generated from it.
    Schema,
    /// Print a signed development token for a user.
    Token {
        /// The user id (`sub` claim).
        #[arg(long)]
        user: String,
        /// Lifetime in seconds (default: auth.token_ttl_secs).
        #[arg(long)]
        ttl: Option<u64>,
        /// A role the token grants (repeat for several); default `customer`.
        #[arg(long = "role", value_enum)]
        roles: Vec<TokenRole>,
        /// An OAuth2 scope the token is limited to (repeat for several); default: no limit.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Train a model from labelled data.
    Train {
        /// What to train.
        #[command(subcommand)]
        what: TrainCommand,
    },
    /// The recommender's feature store: list the sets, show values, materialize them.
    Features {
        /// What to do.
        #[command(subcommand)]
        what: crate::features::FeaturesCommand,
    },
    /// Load catalogue items, customer profiles, interactions or FAQ entries from a file (.jsonl
    /// or .csv).
    ///
    /// Bad rows are named by line and skipped. Interactions go onto the `user.interactions`
    /// topic when Kafka is configured, into the store otherwise (learned at the next retraining).
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        what: crate::import::ImportKind,
        /// The file: JSON Lines (.jsonl, .ndjson) or CSV with a header (.csv).
        file: PathBuf,
    },
    /// Write the support desk's FAQ knowledge base from the store to a file (.jsonl or .csv,
    /// the layouts `finpulse import faq` reads).
    Export {
        /// What to write.
        #[arg(value_enum)]
        what: crate::import::ExportKind,
        /// The file to write (replaced when it exists).
        file: PathBuf,
    },
    /// Evaluate a model offline on held-out data.
    Eval {
        /// What to evaluate.
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// Serve the platform fed from a CSV of ticks instead of the simulator.
    Replay {
        /// CSV with a header: ts,symbol,price[,size,bid,ask]; ts in RFC 3339 or epoch ms.
        file: PathBuf,
        /// Speed-up against the recorded timestamps; 0 replays as fast as possible.
        #[arg(long, default_value_t = 0.0)]
        speed: f64,
        /// Exit once the file is replayed and processed instead of serving on.
        #[arg(long)]
        exit: bool,
        /// Address to listen on (overrides `listen`).
        #[arg(long, env = "FINPULSE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
    },
}

/// What `finpulse train` trains.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// The recommender, from the interactions in the store: tuned and evaluated on each
    /// customer's newest 20 % of interactions against popularity, then fitted on all of them.
    ///
    /// The model is then kept in the store as a new version that every running server serves
    /// within `recommend.service.follow_secs` (workers also retrain on their schedule,
    /// `recommend.service.retrain_secs`); the previous versions stay for
    /// `rollbackRecommender`.
    Recommender {
        /// The cut-off of precision, recall and nDCG.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        k: u16,
        /// Print the evaluation as one JSON object.
        #[arg(long)]
        json: bool,
        /// Evaluate only: write no ranker file and publish no version.
        #[arg(long)]
        dry_run: bool,
    },
    /// A text classifier: a softmax head on sentence embeddings, evaluated on a held-out split
    /// of `--data`, or, with `--test`, trained on all of `--data` and evaluated on `--test`.
    Classifier {
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the trained classifier (JSON).
        #[arg(long)]
        out: PathBuf,
        /// A separate labelled CSV to report on; the whole of `--data` is trained on.
        #[arg(long)]
        test: Option<PathBuf>,
        /// Share of each label held out for evaluation (0 to 0.5).
        #[arg(long, default_value_t = 0.25)]
        holdout: f32,
        /// The most passes over the training set (early stopping on a validation fifth of it
        /// picks fewer; with `--no-tune`, exactly this many).
        #[arg(long, default_value_t = 1000)]
        epochs: usize,
        /// Seed of the train/held-out split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The embedding model (a name in the manifest); the manifest's default otherwise.
        /// `multilingual-e5-small` reads German, French, Spanish and more.
        #[arg(long)]
        model: Option<String>,
        /// Train with L2 1e-4 for `--epochs` passes instead of choosing both on a validation
        /// split of the training data.
        #[arg(long)]
        no_tune: bool,
        /// The embedding head alone: no TF-IDF head fused in (by default one is, its weight
        /// chosen on the validation split, and left out when it does not help there).
        #[arg(long)]
        no_lexical: bool,
    },
    /// Fine-tunes the multilingual encoder itself on a labelled CSV (`text,label`) with
    /// candle, on the CPU: a head is probed on the frozen vectors, then encoder and head train
    /// together, early-stopped on a validation fifth. Prints the classifier's report on frozen
    /// and tuned vectors side by side (held-out split, or `--test`), writes `OUT/model.onnx`
    /// and `OUT/tokenizer.json`, and the manifest entry that serves them.
    Encoder {
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Folder to write the tuned model into.
        #[arg(long)]
        out: PathBuf,
        /// A separate labelled CSV to report on; the whole of `--data` is trained on.
        #[arg(long)]
        test: Option<PathBuf>,
        /// The manifest's model to start from (the graph `scripts/convert-e5.py` writes).
        #[arg(long, default_value = "multilingual-e5-small")]
        model: String,
        /// Share of each label held out for the report (0 to 0.5).
        #[arg(long, default_value_t = 0.25)]
        holdout: f32,
        /// The most passes over the training data (the best on validation is kept).
        #[arg(long, default_value_t = 4)]
        epochs: usize,
        /// Examples per step.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Peak step size of the encoder's layers (AdamW, warm-up then linear decay).
        #[arg(long, default_value_t = 3e-5)]
        learning_rate: f64,
        /// Longest text in tokens while training.
        #[arg(long, default_value_t = 128)]
        max_length: usize,
        /// Seed of the splits and the batch order.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

/// What `finpulse eval` evaluates.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// A classifier saved by `finpulse train classifier`, on a labelled CSV (`text,label`):
    /// accuracy, macro-F1 and per-label scores; `--json` prints `{"accuracy":…,"macro_f1":…}`.
    Classifier {
        /// The saved classifier (JSON).
        #[arg(long)]
        model: PathBuf,
        /// CSV with a header and `text` and `label` columns.
        #[arg(long)]
        data: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The recommender's collaborative model against a popularity baseline.
    ///
    /// Both files are tab-separated with the header `user item rating timestamp` (MovieLens
    /// `u.data` layout); every row is a positive interaction. For every user with a test row,
    /// all items outside the user's training rows are ranked.
    Recommender {
        /// Training interactions.
        #[arg(long)]
        train: PathBuf,
        /// Held-out interactions.
        #[arg(long)]
        test: PathBuf,
        /// The cut-off of precision, recall and nDCG.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        k: u16,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// The collaborative model: `auto` (EASE up to 20,000 items, ALS beyond), `ease` or
        /// `als`.
        #[arg(long, value_enum, default_value = "auto")]
        model: EvalModel,
        /// Train with the default settings instead of tuning them on a validation split.
        #[arg(long)]
        no_tune: bool,
    },
    /// FAQ retrieval: lexical (BM25), dense (embeddings) and their fusion side by side.
    ///
    /// `--faq` is a CSV with the header `id,question,answer,language` (rows sharing an id and
    /// language are question variants of one entry; rows sharing an id in other languages are
    /// its translations), `--queries` a CSV with `query,id`. Prints MRR@5, recall@1 and
    /// recall@5 of the right id. The fusion is calibrated on the FAQ alone (each question
    /// variant asked with itself left out), never on the queries.
    Faq {
        /// The knowledge base (.csv as above, or .jsonl of entries).
        #[arg(long)]
        faq: PathBuf,
        /// Labelled queries: `query,id`.
        #[arg(long)]
        queries: PathBuf,
        /// Print `{"mrr5","recall1","recall5","lexical":{…},"dense":{…}}` instead of a table.
        #[arg(long)]
        json: bool,
        /// An embedding model of the manifest for dense retrieval; repeat for several (the
        /// first is the primary, the one the `dense` figures are of; the fusion may use all).
        /// Default: multilingual-e5-small, then minilm-l6-v2.
        #[arg(long = "model", default_values_t = [
            "multilingual-e5-small".to_owned(),
            "minilm-l6-v2".to_owned(),
        ])]
        models: Vec<String>,
    },
}

/// The model `finpulse eval recommender --model` evaluates.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EvalModel {
    /// EASE for catalogues up to 20,000 items, ALS beyond; with tuning, item-kNN is tried
    /// beside EASE and the better on the validation split kept.
    Auto,
    /// EASE.
    Ease,
    /// ALS.
    Als,
    /// Item-kNN (shrunk cosine neighbours).
    Knn,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("finpulse: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log_level, config.log_format);
    // Every socket is a file descriptor: lift the soft limit to the hard one so the default
    // 1024 does not cap connections.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "failed to raise the open file limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("finpulse: failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(
        cli.command.unwrap_or(Command::Serve {
            listen: None,
            role: None,
        }),
        config,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finpulse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, role } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(role) = role {
                config.role = role;
                config.validate()?;
            }
            let app = Application::build(config, MarketSource::Simulator).await?;
            stop_on_signal(app.handle());
            app.run_until_stopped().await
        }
        Command::Schema => {
            print!("{}", finpulse_graph::sdl());
            Ok(())
        }
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations applied to {}", config.database_url());
            Ok(())
        }
        Command::Features { what } => crate::features::run(&config, what).await,
        Command::Train {
            what: TrainCommand::Recommender { k, json, dry_run },
        } => crate::offline::train_recommender(&config, usize::from(k), json, !dry_run).await,
        Command::Train {
            what:
                TrainCommand::Classifier {
                    data,
                    out,
                    test,
                    holdout,
                    epochs,
                    seed,
                    model,
                    no_tune,
                    no_lexical,
                },
        } => {
            let train = TrainConfig {
                // With a test file every row of the training file is trained on.
                holdout: if test.is_some() { 0.0 } else { holdout },
                epochs,
                seed,
                tune: !no_tune,
                lexical: !no_lexical,
                ..TrainConfig::default()
            };
            crate::classifier::train_classifier(
                &config,
                &data,
                &out,
                test.as_deref(),
                model.as_deref(),
                train,
            )
            .await
        }
        Command::Train {
            what:
                TrainCommand::Encoder {
                    data,
                    out,
                    test,
                    model,
                    holdout,
                    epochs,
                    batch,
                    learning_rate,
                    max_length,
                    seed,
                },
        } => {
            if !(0.0..=0.5).contains(&holdout) {
                anyhow::bail!("--holdout must be between 0 and 0.5");
            }
            let tune = finpulse_inference::tuning::TuneConfig {
                holdout,
                epochs,
                batch,
                learning_rate,
                seed,
                ..Default::default()
            };
            crate::classifier::train_encoder(
                &config,
                &data,
                &out,
                test.as_deref(),
                &model,
                max_length,
                tune,
            )
            .await
        }
        Command::Eval {
            what:
                EvalCommand::Recommender {
                    train,
                    test,
                    k,
                    json,
                    model,
                    no_tune,
                },
        } => {
            crate::offline::eval_recommender(train, test, usize::from(k), json, model, !no_tune)
                .await
        }
        Command::Eval {
            what: EvalCommand::Classifier { model, data, json },
        } => crate::classifier::eval_classifier(&config, &model, &data, json).await,
        Command::Eval {
            what:
                EvalCommand::Faq {
                    faq,
                    queries,
                    json,
                    models,
                },
        } => crate::offline::eval_faq(&config, &faq, &queries, json, &models).await,
        Command::Import { what, file } => crate::import::run(&config, what, &file).await,
        Command::Export { what, file } => crate::import::export(&config, what, &file).await,
        Command::Token {
            user,
            ttl,
            roles,
            scopes,
        } => {
            if user.trim().is_empty() {
                anyhow::bail!("--user must not be empty");
            }
            let auth = Authenticator::from_config(&config.auth, &config.data_dir)?;
            let grant = Grant {
                roles: roles.into_iter().map(UserRole::from).collect(),
                scopes,
            };
            println!("{}", auth.mint_with(&user, ttl, &grant)?);
            Ok(())
        }
        Command::Replay {
            file,
            speed,
            exit,
            listen,
        } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if !file.is_file() {
                anyhow::bail!("replay file {} does not exist", file.display());
            }
            if exit {
                // Loading a file into the store serves nobody: no models needed.
                config.inference.enabled = false;
            }
            let size = std::fs::metadata(&file)
                .map(|m| m.len())
                .unwrap_or_default();
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
                    .context("progress template")?,
            );
            let bar_for_rows = bar.clone();
            let done = Arc::new(tokio::sync::Notify::new());
            let summary = Arc::new(parking_lot::Mutex::new(None));
            let source = MarketSource::Replay {
                path: file.clone(),
                speed,
                progress: Arc::new(move |p| {
                    bar_for_rows.set_position(p.bytes_read);
                    bar_for_rows
                        .set_message(format!("{} ticks, {} skipped", p.published, p.skipped));
                }),
                done: done.clone(),
                summary: summary.clone(),
            };
            let config_simulator_off = {
                config.simulator.enabled = false;
                config
            };
            let app = Application::build(config_simulator_off, source).await?;
            let handle = app.handle();
            stop_on_signal(handle.clone());
            let waiter = tokio::spawn(async move {
                done.notified().await;
                handle.wait_until_drained().await;
                bar.finish();
                if let Some(s) = summary.lock().clone() {
                    eprintln!(
                        "replayed {} ticks from {}, skipped {} rows of {}",
                        s.published,
                        file.display(),
                        s.skipped,
                        s.rows
                    );
                    for error in &s.errors {
                        eprintln!("  {error}");
                    }
                }
                if exit {
                    handle.shutdown();
                }
            });
            let result = app.run_until_stopped().await;
            waiter.abort();
            result
        }
    }
}

/// Cancels the app on SIGTERM or Ctrl-C.
fn stop_on_signal(handle: crate::app::AppHandle) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        tracing::error!(error = %e, "failed to listen for SIGTERM");
                        let _ = ctrl_c.await;
                        handle.shutdown();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        handle.shutdown();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
