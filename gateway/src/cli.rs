//! `finpulse --help`: the subcommands and their flags.
//!
//! `serve` builds the [`crate::app::Application`]; the offline commands live beside this file,
//! each calling its domain's functions: [`offline`] (`train recommender`, `eval recommender`,
//! `eval faq`), [`classifier`] (`train classifier|encoder`, `eval classifier`), [`features`]
//! (`features list|materialize|history`), [`import`] (`import`, `export`), [`audit`]
//! (`audit verify`); [`models`] holds the flags of `train` and `eval`.

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

mod audit;
mod classifier;
mod features;
mod import;
mod models;
mod offline;
pub use models::{EvalCommand, TrainCommand};

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
    /// The audit trail: `verify` checks its hash chain.
    Audit {
        /// What to do.
        #[command(subcommand)]
        what: audit::AuditCommand,
    },
    /// The recommender's feature store: list the sets, show values, materialize them.
    Features {
        /// What to do.
        #[command(subcommand)]
        what: features::FeaturesCommand,
    },
    /// Load catalogue items, customer profiles, interactions or FAQ entries from a file (.jsonl
    /// or .csv).
    ///
    /// Bad rows are named by line and skipped. Interactions go onto the `user.interactions`
    /// topic when Kafka is configured, into the store otherwise (learned at the next retraining).
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        what: import::ImportKind,
        /// The file: JSON Lines (.jsonl, .ndjson) or CSV with a header (.csv).
        file: PathBuf,
    },
    /// Write the support desk's FAQ knowledge base from the store to a file (.jsonl or .csv,
    /// the layouts `finpulse import faq` reads).
    Export {
        /// What to write.
        #[arg(value_enum)]
        what: import::ExportKind,
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
        Command::Features { what } => features::run(&config, what).await,
        Command::Audit { what } => audit::run(&config, what).await,
        Command::Train {
            what: TrainCommand::Recommender { k, json, dry_run },
        } => offline::train_recommender(&config, usize::from(k), json, !dry_run).await,
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
            classifier::train_classifier(
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
            classifier::train_encoder(
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
        } => offline::eval_recommender(train, test, usize::from(k), json, model, !no_tune).await,
        Command::Eval {
            what: EvalCommand::Classifier { model, data, json },
        } => classifier::eval_classifier(&config, &model, &data, json).await,
        Command::Eval {
            what:
                EvalCommand::Faq {
                    faq,
                    queries,
                    json,
                    models,
                },
        } => offline::eval_faq(&config, &faq, &queries, json, &models).await,
        Command::Import { what, file } => import::run(&config, what, &file).await,
        Command::Export { what, file } => import::export(&config, what, &file).await,
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
                config.market.simulator.enabled = false;
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
