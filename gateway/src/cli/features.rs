//! `finpulse features list|show|materialize`: the feature store from the command line.
//!
//! `list` names every declared feature set with its features, types and source, and what the
//! offline store holds of it; `show` prints one set's values for an entity, now (online) or as
//! of a time (offline, point in time); `materialize` computes every set as of now (or a given
//! time) from the store and writes it offline and online. In distributed mode the online store
//! is Redis and serving sees the new values at its next training; on the embedded default the
//! online values live in the serving process, which materializes on its own schedule, so this
//! command writes offline rows and an online store of its own.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use finpulse_core::feature_store::FeatureRow;
use finpulse_recommend::service::RecommendService;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::config::Config;

/// What `finpulse features` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FeaturesCommand {
    /// Every feature set: version, entity, features with their types, source, rows stored.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One set's values for an entity (a sample of entities when none is named).
    Show {
        /// The set's name.
        name: String,
        /// The version (default: the newest).
        #[arg(long)]
        version: Option<u32>,
        /// The user or item id.
        #[arg(long)]
        entity: Option<String>,
        /// The values as they were at this time (RFC 3339), from the offline store; without
        /// it, the newest values from the online store.
        #[arg(long)]
        as_of: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compute every feature set as of now (or `--as-of`) and write it offline and online.
    Materialize {
        /// The time to compute the values for (RFC 3339); only interactions at or before it
        /// count. Default: now.
        #[arg(long)]
        as_of: Option<String>,
    },
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("--as-of `{text}` is not an RFC 3339 time (2026-12-01T09:00:00Z)"))
}

async fn service(config: &Config) -> anyhow::Result<Arc<RecommendService>> {
    // The service is used for its stores only: no topics are written, no lists pushed.
    crate::domains::offline_recommender(config, None).await
}

/// Runs the command.
pub async fn run(config: &Config, command: FeaturesCommand) -> anyhow::Result<()> {
    let service = service(config).await?;
    let store = service.features();
    match command {
        FeaturesCommand::List { json } => {
            let mut listed = Vec::new();
            for set in store.sets() {
                let summary = store.summary(set).await?;
                listed.push(json!({"set": set, "stored": summary}));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            for (set, entry) in store.sets().iter().zip(&listed) {
                let stored = &entry["stored"];
                println!(
                    "{}  entity {:?}  ({} rows of {} entities, last {})",
                    set.key(),
                    set.entity,
                    stored["rows"],
                    stored["entities"],
                    stored["last"].as_str().unwrap_or("never")
                );
                println!("  source: {}", set.source);
                for feature in &set.features {
                    println!(
                        "  {:<24} {:<6} {}",
                        feature.name,
                        format!("{:?}", feature.kind).to_lowercase(),
                        feature.description
                    );
                }
            }
        }
        FeaturesCommand::Show {
            name,
            version,
            entity,
            as_of,
            json,
        } => {
            let set = store.set(&name, version)?;
            let entities = match entity {
                Some(entity) => vec![entity],
                None => store.entities(set, 5).await?,
            };
            let rows: Vec<Option<FeatureRow>> = match &as_of {
                Some(text) => {
                    let at = parse_time(text)?;
                    let requests: Vec<(String, DateTime<Utc>)> =
                        entities.iter().map(|e| (e.clone(), at)).collect();
                    store.as_of(set, &requests).await?
                }
                None => {
                    let online = store.online(set, &entities).await?;
                    // The embedded default's online values live in the server: read the newest
                    // offline rows instead.
                    if online.iter().all(Option::is_none) {
                        let far = DateTime::<Utc>::MAX_UTC;
                        let requests: Vec<(String, DateTime<Utc>)> =
                            entities.iter().map(|e| (e.clone(), far)).collect();
                        store.as_of(set, &requests).await?
                    } else {
                        online
                    }
                }
            };
            if json {
                let shown: Vec<_> = entities
                    .iter()
                    .zip(&rows)
                    .map(|(entity, row)| json!({"entity": entity, "row": row}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"set": set.key(), "values": shown}))?
                );
                return Ok(());
            }
            println!("{} ({:?})", set.key(), set.entity);
            for (entity, row) in entities.iter().zip(&rows) {
                match row {
                    None => println!(
                        "{entity}: no values{}",
                        as_of
                            .as_ref()
                            .map(|t| format!(" at {t}"))
                            .unwrap_or_default()
                    ),
                    Some(row) => {
                        println!("{entity} as of {}", row.event_time.to_rfc3339());
                        for (feature, value) in &row.values {
                            println!("  {feature:<24} {}", serde_json::to_string(value)?);
                        }
                    }
                }
            }
        }
        FeaturesCommand::Materialize { as_of } => {
            let at = match &as_of {
                Some(text) => parse_time(text)?,
                None => Utc::now(),
            };
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
            );
            bar.set_message(format!("materializing as of {}", at.to_rfc3339()));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            let written = service.materialize_features(at).await;
            bar.finish_and_clear();
            for (set, rows) in written? {
                println!("{set}: {rows} rows as of {}", at.to_rfc3339());
            }
        }
    }
    Ok(())
}
