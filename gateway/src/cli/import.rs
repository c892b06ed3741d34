//! `finpulse import items|users|interactions FILE`: loading a bank's catalogue, customers and
//! interaction history.
//!
//! Items and profiles go straight into the store (the recommender reads them at its next
//! training). Interactions go onto the `user.interactions` topic when a Kafka log is
//! configured, so running workers apply them live like any other event; on the embedded
//! default (whose log lives inside the serving process) they go into the store, and the next
//! retraining learns from them. Bad rows are named by line and skipped; a summary ends it.

use std::path::Path;

use anyhow::Context;
use finpulse_core::recommend::{Interaction, Item, UserProfile};
use finpulse_recommend::events::{INTERACTIONS_TOPIC, append_interaction};
use finpulse_recommend::import::{Format, Importable, Parsed, parse};
use finpulse_store::RecommendData;
use indicatif::{ProgressBar, ProgressStyle};

use crate::backends::{open_log, open_store};
use crate::config::Config;

/// What `finpulse import` loads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ImportKind {
    /// Catalogue items (instruments, news, articles).
    Items,
    /// Customer profiles.
    Users,
    /// Interactions.
    Interactions,
    /// Support FAQ entries: JSON Lines of entries, or CSV with `id,question,answer,language`
    /// (optional `intent`, `tags`), one question variant a row.
    Faq,
}

/// What `finpulse export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportKind {
    /// The support desk's FAQ entries, every language.
    Faq,
}

/// Rows written per store transaction.
const BATCH: usize = 500;
/// Skipped rows listed one by one; past this only counted.
const LISTED: usize = 50;

/// Runs the import.
pub async fn run(config: &Config, kind: ImportKind, file: &Path) -> anyhow::Result<()> {
    let format = match kind {
        ImportKind::Faq => return import_faq(config, file).await,
        _ => Format::of(file)?,
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let store = open_store(config).await?;
    let (imported, skipped, total) = match kind {
        ImportKind::Faq => unreachable!("FAQ files are imported above"),
        ImportKind::Items => {
            write(parse::<Item>(&text, format), "items", |batch| {
                let store = store.clone();
                async move {
                    store
                        .upsert_items(&batch)
                        .await
                        .context("failed to store items")
                }
            })
            .await?
        }
        ImportKind::Users => {
            write(parse::<UserProfile>(&text, format), "profiles", |batch| {
                let store = store.clone();
                async move {
                    store
                        .upsert_user_profiles(&batch)
                        .await
                        .context("failed to store profiles")
                }
            })
            .await?
        }
        ImportKind::Interactions if config.kafka_brokers.is_some() => {
            let (log, _) = open_log(config)?;
            log.ensure_topic(INTERACTIONS_TOPIC, config.log.partitions)
                .await?;
            write(
                parse::<Interaction>(&text, format),
                "interactions",
                |batch| {
                    let log = log.clone();
                    async move {
                        for interaction in batch {
                            append_interaction(log.as_ref(), interaction)
                                .await
                                .context("failed to append an interaction")?;
                        }
                        Ok(())
                    }
                },
            )
            .await?
        }
        ImportKind::Interactions => {
            write(
                parse::<Interaction>(&text, format),
                "interactions",
                |batch| {
                    let store = store.clone();
                    async move {
                        store
                            .record_interactions(&batch)
                            .await
                            .context("failed to store interactions")
                    }
                },
            )
            .await?
        }
    };
    eprintln!(
        "imported {imported} of {total} rows from {}; skipped {}",
        file.display(),
        skipped.len()
    );
    for row in skipped.iter().take(LISTED) {
        eprintln!("  line {}: {}", row.line, row.reason);
    }
    if skipped.len() > LISTED {
        eprintln!("  … and {} more", skipped.len() - LISTED);
    }
    Ok(())
}

/// Writes what the store holds to `file`, in the format its extension names.
pub async fn export(config: &Config, kind: ExportKind, file: &Path) -> anyhow::Result<()> {
    use finpulse_store::SupportData;
    use finpulse_support::faq::{FaqFormat, write};
    let ExportKind::Faq = kind;
    let format = FaqFormat::of(file)?;
    let store = open_store(config).await?;
    let entries = store
        .faq_entries()
        .await
        .context("failed to read FAQ entries")?;
    let text = write(&entries, format)?;
    let partial = file.with_extension("partial");
    std::fs::write(&partial, text)
        .with_context(|| format!("failed to write {}", partial.display()))?;
    std::fs::rename(&partial, file)
        .with_context(|| format!("failed to write {}", file.display()))?;
    eprintln!(
        "exported {} FAQ entries to {}",
        entries.len(),
        file.display()
    );
    Ok(())
}

/// Loads FAQ entries into the store, replacing those with the same id and language.
async fn import_faq(config: &Config, file: &Path) -> anyhow::Result<()> {
    use finpulse_store::SupportData;
    let parsed = finpulse_support::faq::read(file)?;
    let store = open_store(config).await?;
    let bar = ProgressBar::new(parsed.entries.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} FAQ entries ({eta})")
            .context("progress template")?,
    );
    let mut imported = 0;
    for chunk in parsed.entries.chunks(BATCH) {
        store
            .upsert_faq_entries(chunk)
            .await
            .context("failed to store FAQ entries")?;
        imported += chunk.len();
        bar.set_position(imported as u64);
    }
    bar.finish_and_clear();
    let languages: std::collections::BTreeSet<&str> =
        parsed.entries.iter().map(|e| e.language.as_str()).collect();
    eprintln!(
        "imported {imported} FAQ entries ({}) from {}; skipped {} rows",
        languages.into_iter().collect::<Vec<_>>().join(", "),
        file.display(),
        parsed.skipped.len()
    );
    for row in parsed.skipped.iter().take(LISTED) {
        eprintln!("  line {}: {}", row.line, row.reason);
    }
    if parsed.skipped.len() > LISTED {
        eprintln!("  … and {} more", parsed.skipped.len() - LISTED);
    }
    Ok(())
}

async fn write<T, F, Fut>(
    parsed: Parsed<T>,
    what: &str,
    mut store: F,
) -> anyhow::Result<(
    usize,
    Vec<finpulse_recommend::catalogue::SkippedLine>,
    usize,
)>
where
    T: Importable + Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let total = parsed.rows.len() + parsed.skipped.len();
    let bar = ProgressBar::new(parsed.rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
            .context("progress template")?,
    );
    bar.set_message(what.to_owned());
    let mut imported = 0;
    for chunk in parsed.rows.chunks(BATCH) {
        store(chunk.iter().map(|(_, value)| value.clone()).collect()).await?;
        imported += chunk.len();
        bar.set_position(imported as u64);
    }
    bar.finish_and_clear();
    Ok((imported, parsed.skipped, total))
}
