//! Training: reading the store into a model, the feature sets, description embeddings and the
//! learned ranker. Everything heavy runs off the async workers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use finpulse_core::recommend::Interaction;
use tracing::info;

use super::{RecommendService, Trained};
use crate::RecommendError;
use crate::catalogue::Catalogue;
use crate::feature_sets::{ITEM_MOMENTUM, ITEM_POPULARITY, Materializer, momentum_rows};
use crate::recommender::{Recommender, UserState};

impl RecommendService {
    /// Computes every feature set as of `as_of` from the store's catalogue and the interactions
    /// at or before it, and writes the rows offline and online. Returns rows written per set.
    pub async fn materialize_features(
        &self,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<(String, usize)>, RecommendError> {
        let catalogue = self.read_catalogue().await?;
        let written = self.materialize(&catalogue, as_of, None).await?;
        info!(as_of = %as_of, sets = ?written, "features materialized");
        Ok(written)
    }

    /// Materializes the sets (all, or only the one named) as of `as_of`.
    async fn materialize(
        &self,
        catalogue: &Catalogue,
        as_of: DateTime<Utc>,
        only: Option<&str>,
    ) -> Result<Vec<(String, usize)>, RecommendError> {
        let wanted = |name: &str| only.is_none_or(|only| only == name);
        let mut materializer = Materializer::new(as_of, catalogue.items());
        if self
            .features
            .sets()
            .iter()
            .any(|set| set.name != ITEM_MOMENTUM && wanted(&set.name))
        {
            self.for_each_interaction_page(|page| materializer.feed(page))
                .await?;
        }
        let prices = if wanted(ITEM_MOMENTUM) {
            self.daily_candles(catalogue, as_of).await?
        } else {
            Vec::new()
        };
        let mut written = Vec::new();
        for set in self.features.sets().iter().filter(|set| wanted(&set.name)) {
            let rows = if set.name == ITEM_MOMENTUM {
                momentum_rows(
                    set,
                    as_of,
                    prices.iter().map(|(id, c)| (id.as_str(), c.as_slice())),
                )
            } else {
                materializer.rows(set)
            };
            self.features.write(set, &rows).await?;
            written.push((set.key(), rows.len()));
        }
        Ok(written)
    }

    /// The daily candles of the catalogue's instruments that started before `as_of` (enough
    /// for the momentum windows); instruments without prices are left out.
    async fn daily_candles(
        &self,
        catalogue: &Catalogue,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<(String, Vec<finpulse_core::market::Candle>)>, RecommendError> {
        let from = as_of - chrono::Duration::days(3 * crate::momentum::LONG_DAYS as i64);
        let mut prices = Vec::new();
        for item in catalogue.items() {
            if item.kind != finpulse_core::recommend::ItemKind::Instrument {
                continue;
            }
            let candles = self
                .market
                .candles(
                    &item.id,
                    crate::momentum::DAY_SECS,
                    from,
                    as_of,
                    crate::momentum::LONG_DAYS as u32 + 2,
                )
                .await?;
            if !candles.is_empty() {
                prices.push((item.id.clone(), candles));
            }
        }
        Ok(prices)
    }

    /// Every stored interaction, a page at a time.
    async fn for_each_interaction_page(
        &self,
        mut each: impl FnMut(&[Interaction]),
    ) -> Result<(), RecommendError> {
        let mut after: Option<Interaction> = None;
        loop {
            let page = self.store.interactions_page(after.as_ref(), 20_000).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            each(&page);
        }
    }

    async fn read_catalogue(&self) -> Result<Catalogue, RecommendError> {
        let mut catalogue = Catalogue::default();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.items(&[], after.as_deref(), 5_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for item in page {
                catalogue.upsert(item);
            }
        }
        Ok(catalogue)
    }

    /// Description vectors of the catalogue's items, in its order (new or changed texts are
    /// embedded, the rest reused); `None` without an embedding model or when it fails.
    async fn content(&self, catalogue: &Catalogue) -> Option<crate::learned_ranker::Content> {
        let embedder = self.embedder.as_ref()?;
        let texts: Vec<(String, String)> = catalogue
            .items()
            .iter()
            .map(|item| {
                (
                    item.id.clone(),
                    format!("{}. {}", item.name, item.description),
                )
            })
            .collect();
        let missing: Vec<(String, String)> = {
            let embedded = self.embedded.lock();
            texts
                .iter()
                .filter(|(id, text)| embedded.get(id).is_none_or(|(kept, _)| kept != text))
                .cloned()
                .collect()
        };
        for chunk in missing.chunks(64) {
            let batch: Vec<String> = chunk.iter().map(|(_, text)| text.clone()).collect();
            match embedder.embed_as("recommender", batch).await {
                Ok(vectors) => {
                    let mut embedded = self.embedded.lock();
                    for ((id, text), vector) in chunk.iter().zip(vectors) {
                        embedded.insert(id.clone(), (text.clone(), vector));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to embed item descriptions; no content similarity");
                    return None;
                }
            }
        }
        let embedded = self.embedded.lock();
        let vectors = texts
            .iter()
            .map(|(id, _)| embedded.get(id).map(|(_, v)| v.clone()))
            .collect::<Option<Vec<_>>>()?;
        Some(crate::learned_ranker::Content::new(vectors))
    }

    /// Every customer's state from the store (profiles, then all interactions), and how many
    /// interactions were read.
    async fn read_users(&self) -> Result<(Vec<UserState>, usize), RecommendError> {
        let mut users: HashMap<String, UserState> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.user_profiles(after.as_deref(), 5_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for profile in page {
                users.insert(profile.id.clone(), UserState::new(profile));
            }
        }
        let mut count = 0usize;
        self.for_each_interaction_page(|page| {
            count += page.len();
            for interaction in page {
                users
                    .entry(interaction.user.clone())
                    .or_insert_with(|| UserState::new(self.default_profile(&interaction.user)))
                    .record(interaction, &self.config.weights);
            }
        })
        .await?;
        Ok((users.into_values().collect(), count))
    }

    /// Every stored interaction that counts as a positive for offline evaluation (anything
    /// with a positive weight: a view, click, save, buy, a good rating; never a dismissal),
    /// as rows of the evaluation's format; `progress` hears the count after every page.
    pub async fn positive_rows(
        &self,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<crate::eval::Row>, RecommendError> {
        let weights = self.config.weights.clone();
        let mut rows = Vec::new();
        self.for_each_interaction_page(|page| {
            rows.extend(
                page.iter()
                    .filter(|interaction| weights.of(interaction).is_some_and(|w| w > 0.0))
                    .map(|interaction| crate::eval::Row {
                        user: interaction.user.clone(),
                        item: interaction.item.clone(),
                        rating: 1.0,
                        timestamp: interaction.at.timestamp_millis(),
                    }),
            );
            progress(rows.len());
        })
        .await?;
        Ok(rows)
    }

    /// Trains the learned ranker and, when it earns its place and `write` is set, writes it
    /// where the manifest's `[ranker]` says, for every server to load at its next training
    /// (the path is `None` when it does not earn it, or without `write`). `None` when models
    /// are not set up or the history is too short.
    pub async fn train_and_write_ranker(
        &self,
        write: bool,
    ) -> Result<
        Option<(
            crate::learned_ranker::RankerReport,
            Option<std::path::PathBuf>,
        )>,
        RecommendError,
    > {
        let Some(manifest_path) = self.manifest.clone() else {
            return Ok(None);
        };
        let Ok(manifest) = finpulse_inference::Manifest::load(&manifest_path) else {
            return Ok(None);
        };
        let Some(spec) = manifest.ranker.clone() else {
            return Ok(None);
        };
        let Some((report, bytes)) = self.train_ranker().await? else {
            return Ok(None);
        };
        if !report.earns_its_place() || !write {
            return Ok(Some((report, None)));
        }
        let path = manifest.resolve(&spec.file);
        let written = |source: std::io::Error| RecommendError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(written)?;
        }
        let partial = path.with_extension("onnx.partial");
        std::fs::write(&partial, &bytes).map_err(written)?;
        // A server reading the file at that moment sees the old one or the new one, never half.
        std::fs::rename(&partial, &path).map_err(written)?;
        Ok(Some((report, Some(path))))
    }

    /// Trains the learned ranker from the store now (whether or not a ranker file exists) and
    /// returns what it found with its ONNX file, for `finpulse train recommender` to write.
    /// `None` without enough history or without a manifest `[ranker]` entry.
    pub async fn train_ranker(
        &self,
    ) -> Result<Option<(crate::learned_ranker::RankerReport, Vec<u8>)>, RecommendError> {
        let Some(manifest) = self.manifest.clone() else {
            return Ok(None);
        };
        let manifest = finpulse_inference::Manifest::load(&manifest)
            .map_err(|e| RecommendError::InvalidInput(e.to_string()))?;
        let Some(spec) = manifest.ranker else {
            return Ok(None);
        };
        let catalogue = self.read_catalogue().await?;
        let content = self.content(&catalogue).await;
        let (users, _) = self.read_users().await?;
        let at_cutoff = self.at_cutoff(&catalogue, &users).await?;
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let prefix = |prefix: Vec<UserState>| {
                Recommender::train(
                    catalogue.clone(),
                    &prefix,
                    &config.model,
                    config.weights.clone(),
                    config.rules.clone(),
                    "prefix",
                )
                .map(|model| {
                    model
                        .with_trending(at_cutoff.trending)
                        .with_momentum(at_cutoff.momentum)
                        .with_content(content.clone())
                })
            };
            let report = crate::learned_ranker::train(&users, &catalogue, prefix, Utc::now())?;
            Ok(report.map(|report| {
                let bytes = report.model.to_onnx(&spec.input, &spec.output);
                (report, bytes)
            }))
        })
        .await
        .map_err(|e| RecommendError::Numerical(format!("ranker training panicked: {e}")))?
    }

    /// Trains a new model from everything in the store, keeps it there as the version every
    /// replica serves, and serves it.
    pub async fn train(&self) -> Result<Trained, RecommendError> {
        let catalogue = self.read_catalogue().await?;
        let trending = self.trending(&catalogue).await?;
        let momentum = self.momentum(&catalogue).await?;
        let content = self.content(&catalogue).await;
        let (users, count) = self.read_users().await?;
        let at_cutoff = self.at_cutoff(&catalogue, &users).await?;
        // Time first, so versions sort by age; the suffix keeps two trainings within one
        // millisecond (on two workers, say) apart.
        let version = format!(
            "{}-{:04x}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            rand::random::<u16>()
        );
        let (items, active) = (
            catalogue.len(),
            users.iter().filter(|u| !u.is_cold()).count(),
        );
        let config = self.config.clone();
        let trained_version = version.clone();
        let manifest = self.manifest.clone();
        let (model, ranker) = tokio::task::spawn_blocking(move || {
            let fit = |catalogue: Catalogue, users: &[UserState], version: &str| {
                Recommender::train(
                    catalogue,
                    users,
                    &config.model,
                    config.weights.clone(),
                    config.rules.clone(),
                    version,
                )
            };
            let ranker = manifest.as_deref().and_then(|manifest| {
                crate::learned_ranker::build(
                    manifest,
                    config.train_ranker,
                    &users,
                    &catalogue,
                    |prefix| {
                        fit(catalogue.clone(), &prefix, "prefix").map(|model| {
                            model
                                .with_trending(at_cutoff.trending)
                                .with_momentum(at_cutoff.momentum)
                                .with_content(content.clone())
                        })
                    },
                    &trained_version,
                )
            });
            let model = fit(catalogue, &users, &trained_version)?
                .with_trending(trending)
                .with_momentum(momentum)
                .with_content(content)
                .with_ranker(ranker.as_ref().and_then(|built| built.ranker.clone()));
            Ok::<_, RecommendError>((model, ranker))
        })
        .await
        .map_err(|e| RecommendError::Numerical(format!("training panicked: {e}")))??;
        let name = model.model_name();
        let summary = super::versions::ModelSummary {
            model: name.to_owned(),
            items,
            users: active,
            interactions: count,
            ranker: model.ranker().map(|ranker| ranker.name().to_owned()),
            format: crate::recommender::SNAPSHOT_FORMAT,
        };
        self.publish(model, &summary).await?;
        info!(%version, items, users = active, interactions = count, model = name, ranker = ?ranker.as_ref().and_then(|r| r.ranker.as_ref()).map(|r| r.name()), "recommender trained");
        Ok(Trained {
            version,
            items,
            users: active,
            interactions: count,
            model: name,
            ranker,
        })
    }

    /// Each catalogue item's engagement of the last 7 days from the online feature store, with
    /// the set's key, or `None` when nothing is materialized yet.
    async fn trending(
        &self,
        catalogue: &Catalogue,
    ) -> Result<Option<(String, Vec<f32>)>, RecommendError> {
        let set = self.features.set(ITEM_POPULARITY, None)?;
        let ids: Vec<String> = catalogue.items().iter().map(|i| i.id.clone()).collect();
        let rows = self.features.online(set, &ids).await?;
        Ok(feature_column(set, &rows, "engagements_7d").map(counts))
    }

    /// Each catalogue item's 20-day price momentum from the online feature store (`None` for
    /// an item without prices), with the set's key; `None` when no item has any.
    async fn momentum(
        &self,
        catalogue: &Catalogue,
    ) -> Result<Option<(String, Vec<Option<f64>>)>, RecommendError> {
        let set = self.features.set(ITEM_MOMENTUM, None)?;
        let ids: Vec<String> = catalogue.items().iter().map(|i| i.id.clone()).collect();
        let rows = self.features.online(set, &ids).await?;
        Ok(feature_column(set, &rows, "return_20d"))
    }

    /// What the ranker's training reads of the feature store: each catalogue item's row of
    /// `item_popularity` and `item_momentum` as of the training cutoff (point in time, offline),
    /// so training sees what serving saw then. When the store has no row of a set from then (a
    /// history imported or seeded after the fact), that set is backfilled as of the cutoff
    /// first, from the interactions and prices known by then: the rows serving would have read
    /// had it been materialized at that time.
    async fn at_cutoff(
        &self,
        catalogue: &Catalogue,
        users: &[UserState],
    ) -> Result<AtCutoff, RecommendError> {
        let Some(cutoff) = crate::learned_ranker::cutoff(users) else {
            return Ok(AtCutoff::default());
        };
        let requests: Vec<(String, DateTime<Utc>)> = catalogue
            .items()
            .iter()
            .map(|i| (i.id.clone(), cutoff))
            .collect();
        let mut read = Vec::new();
        for name in [ITEM_POPULARITY, ITEM_MOMENTUM] {
            let set = self.features.set(name, None)?;
            let mut rows = self.features.as_of(set, &requests).await?;
            if rows.iter().all(Option::is_none) {
                let written = self.materialize(catalogue, cutoff, Some(name)).await?;
                info!(as_of = %cutoff, sets = ?written, "features backfilled for the ranker's training");
                rows = self.features.as_of(set, &requests).await?;
            }
            read.push((set, rows));
        }
        let (popularity, popularity_rows) = &read[0];
        let (momentum, momentum_rows) = &read[1];
        Ok(AtCutoff {
            trending: feature_column(popularity, popularity_rows, "engagements_7d").map(counts),
            momentum: feature_column(momentum, momentum_rows, "return_20d"),
        })
    }
}

/// The feature-store columns a ranker training reads as of its cutoff.
#[derive(Debug, Clone, Default)]
struct AtCutoff {
    trending: Option<(String, Vec<f32>)>,
    momentum: Option<(String, Vec<Option<f64>>)>,
}

/// One feature of `rows` (catalogue order) with the set's key, `None` where a row or the
/// value is missing; `None` when every one is.
fn feature_column(
    set: &finpulse_core::feature_store::FeatureSet,
    rows: &[Option<finpulse_core::feature_store::FeatureRow>],
    feature: &str,
) -> Option<(String, Vec<Option<f64>>)> {
    let values: Vec<Option<f64>> = rows
        .iter()
        .map(|row| {
            row.as_ref()
                .and_then(|row| row.values.get(feature))
                .and_then(|value| value.as_f64())
        })
        .collect();
    values
        .iter()
        .any(Option::is_some)
        .then(|| (set.key(), values))
}

/// A column of counts, a missing value read as none counted.
fn counts((key, values): (String, Vec<Option<f64>>)) -> (String, Vec<f32>) {
    (
        key,
        values.iter().map(|v| v.unwrap_or(0.0) as f32).collect(),
    )
}
