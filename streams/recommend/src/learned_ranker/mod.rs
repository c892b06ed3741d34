//! The learned ranker: a score per candidate from eight signals, trained by the project from
//! logged interactions, written as an ONNX graph and served through ONNX Runtime.
//!
//! The signals ([`FEATURES`], the contract in `models.toml`'s `[ranker]`): the collaborative
//! score, content similarity (description embeddings against the customer's recency-weighted
//! content profile), all-time popularity, recent popularity (the feature store's
//! `item_popularity@1`), freshness of news and articles, suitability headroom, price momentum
//! (`item_momentum@1`, from end-of-day prices), and momentum affinity: the item's momentum times
//! the customer's own tilt towards rising or falling instruments. The cross term is what lets a
//! linear ranker personalize on momentum: a trend follower's lists lean to what is rising while
//! everyone else's do not (the item's momentum alone can only move everyone's lists alike).
//!
//! Training ([`train`]) holds out time: the interactions after a cutoff (the newest 20 % of
//! the store's history) are the labels, everything the features see is from before it (the
//! collaborative model is refitted on the earlier interactions only, and recent popularity and
//! momentum are the feature store's rows as of the cutoff, read point in time as serving read
//! them then). Candidates are each customer's collaborative top 50; a logistic
//! regression is fitted on half the customers, and the other half measures nDCG@10 of the
//! ranker's order against the collaborative order of the same candidates: the report says
//! whether the ranker earns its place. The fitted weights become an ONNX file
//! ([`finpulse_inference::onnx::logistic_scorer`]); ONNX Runtime serves it like any other.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use finpulse_core::recommend::{ItemKind, UserProfile};
use serde::Serialize;

use crate::RecommendError;
use crate::catalogue::Catalogue;
use crate::eval::ranking_metrics;
use crate::models::{Profile, top_k};
use crate::recommender::{Recommender, UserState};

mod fit;
pub use fit::{LinearRanker, fit_logistic};

/// The ranker's inputs, in column order.
pub const FEATURES: [&str; 8] = [
    "cf",
    "content",
    "popularity",
    "trending",
    "freshness",
    "suitability",
    "momentum",
    "momentum_affinity",
];

/// Candidates a ranker orders per customer.
pub const CANDIDATES: usize = 50;

/// Item description vectors in catalogue order (unit length), for content similarity.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct Content {
    vectors: Vec<Vec<f32>>,
}

impl Content {
    /// Vectors for the catalogue's items, in its order.
    pub fn new(vectors: Vec<Vec<f32>>) -> Self {
        Self { vectors }
    }

    /// How many items it covers.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether it covers none.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// The customer's content profile: the weighted mean of their items' vectors (weights
    /// from the recency-faded profile), unit length; `None` with no history.
    pub fn profile(&self, profile: &Profile) -> Option<Vec<f32>> {
        let width = self.vectors.first()?.len();
        let mut mean = vec![0f32; width];
        for (item, weight) in &profile.items {
            let Some(vector) = self.vectors.get(*item as usize) else {
                continue;
            };
            for (m, v) in mean.iter_mut().zip(vector) {
                *m += weight.max(0.0) * v;
            }
        }
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        (norm > 0.0).then(|| mean.iter().map(|v| v / norm).collect())
    }

    /// Cosine similarity of an item with a content profile, clipped to [0, 1].
    pub fn similarity(&self, profile: &[f32], item: u32) -> f32 {
        self.vectors.get(item as usize).map_or(0.0, |vector| {
            vector
                .iter()
                .zip(profile)
                .map(|(a, b)| a * b)
                .sum::<f32>()
                .clamp(0.0, 1.0)
        })
    }
}

/// The signals ([`FEATURES`]) of `candidates` for a customer, row-major.
pub(crate) fn candidate_features(
    model: &Recommender,
    user: &UserProfile,
    profile: &Profile,
    cf: &[f32],
    candidates: &[u32],
    now: DateTime<Utc>,
) -> Vec<f32> {
    let best_cf = candidates
        .iter()
        .map(|&c| cf[c as usize])
        .fold(0.0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let popularity = model.popularity_scores();
    let top_popularity = popularity.iter().copied().fold(1.0f32, f32::max);
    let trending = model.trending_scores();
    let top_trending = trending.map_or(1.0, |t| t.iter().copied().fold(1.0f32, f32::max));
    let content_profile = model.content().and_then(|content| content.profile(profile));
    let items = model.catalogue().items();
    // Momentum in (−1, 1) per item, and the customer's tilt: the weighted mean momentum of the
    // priced instruments they engaged with over its mean magnitude, in [−1, 1].
    let momentum = |index: usize| {
        model
            .momentum
            .as_ref()
            .and_then(|(_, values)| values[index])
            .map(crate::momentum::Momentum::direction)
    };
    let (towards, magnitude) = profile
        .items
        .iter()
        .fold((0f32, 0f32), |(t, m), (item, w)| {
            match momentum(*item as usize) {
                Some(direction) => (t + w * direction, m + w * direction.abs()),
                None => (t, m),
            }
        });
    let tilt = if magnitude > 0.0 {
        towards / magnitude
    } else {
        0.0
    };
    let mut rows = Vec::with_capacity(candidates.len() * FEATURES.len());
    for &candidate in candidates {
        let index = candidate as usize;
        let item = &items[index];
        let freshness = match (item.kind, item.published_at) {
            (ItemKind::Instrument, _) | (_, None) => 0.0,
            (_, Some(published)) => {
                let hours = (now - published).num_minutes().max(0) as f32 / 60.0;
                0.5f32.powf(hours / 12.0)
            }
        };
        let headroom =
            f32::from(user.risk_profile) - f32::from(item.risk.unwrap_or(user.risk_profile));
        rows.extend([
            (cf[index] / best_cf).clamp(0.0, 1.0),
            match (&content_profile, model.content()) {
                (Some(profile), Some(content)) => content.similarity(profile, candidate),
                _ => 0.0,
            },
            popularity[index] / top_popularity,
            trending.map_or(0.0, |t| t[index] / top_trending),
            freshness,
            ((headroom + 6.0) / 12.0).clamp(0.0, 1.0),
            0.5 + 0.5 * momentum(index).unwrap_or(0.0),
            0.5 + 0.5 * momentum(index).unwrap_or(0.0) * tilt,
        ]);
    }
    rows
}

/// What a ranker training found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankerReport {
    /// The cutoff: labels are the interactions after it.
    pub cutoff: DateTime<Utc>,
    /// Customers the regression was fitted on.
    pub users_fitted: usize,
    /// Customers it was measured on.
    pub users_measured: usize,
    /// nDCG@10 of the candidates in collaborative order, on the measured customers.
    pub ndcg_collaborative: f64,
    /// nDCG@10 of the same candidates in the ranker's order.
    pub ndcg_ranker: f64,
    /// The fitted model.
    pub model: LinearRanker,
}

impl RankerReport {
    /// Whether the ranker's order is at least as good as the collaborative order it reranks,
    /// on the customers it was not fitted on. A ranker that is not is neither served nor
    /// written: on a small or unlucky history the blend can lose to the scores it starts from,
    /// and serving it then would make every list worse.
    pub fn earns_its_place(&self) -> bool {
        self.ndcg_ranker >= self.ndcg_collaborative
    }
}

/// The time a ranker training splits the customers' histories at: the newest 20 % of the
/// interactions are after it. `None` with fewer than 50 interactions.
pub fn cutoff(users: &[UserState]) -> Option<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = users
        .iter()
        .flat_map(|u| u.history().map(|(_, (_, at, _))| *at))
        .collect();
    if times.len() < 50 {
        return None;
    }
    times.sort_unstable();
    Some(times[times.len() * 4 / 5])
}

/// Trains a ranker on the customers' histories (see the module's notes), with `prefix_model`
/// building a model from the histories before the cutoff (the caller's own training code, with
/// the feature store's rows as of the cutoff, so the features are those serving computed then).
pub fn train(
    users: &[UserState],
    catalogue: &Catalogue,
    prefix_model: impl FnOnce(Vec<UserState>) -> Result<Recommender, RecommendError>,
    now: DateTime<Utc>,
) -> Result<Option<RankerReport>, RecommendError> {
    let Some(cutoff) = cutoff(users) else {
        return Ok(None);
    };
    let mut prefixes = Vec::with_capacity(users.len());
    let mut held_out: HashMap<String, HashSet<String>> = HashMap::new();
    let index: HashMap<&str, usize> = catalogue
        .items()
        .iter()
        .enumerate()
        .map(|(i, item)| (item.id.as_str(), i))
        .collect();
    for user in users {
        let (before, after) = user.split_at(cutoff);
        if !after.is_empty() && !before.is_cold() {
            held_out.insert(user.profile.id.clone(), after);
        }
        prefixes.push(before);
    }
    let model = prefix_model(prefixes.clone())?;
    let mut fit_rows = Vec::new();
    let mut fit_labels = Vec::new();
    let mut measured: Vec<(Vec<u32>, Vec<f32>, Vec<u32>)> = Vec::new();
    for state in &prefixes {
        let Some(wanted) = held_out.get(&state.profile.id) else {
            continue;
        };
        let (profile, cf) = model.collaborative(state);
        let own: HashSet<u32> = profile.items.iter().map(|(i, _)| *i).collect();
        let candidates: Vec<u32> = top_k(&cf, |i| own.contains(&i), CANDIDATES)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        let relevant: Vec<u32> = wanted
            .iter()
            .filter_map(|id| index.get(id.as_str()).map(|&i| i as u32))
            .filter(|i| !own.contains(i))
            .collect();
        if candidates.is_empty() || relevant.is_empty() {
            continue;
        }
        let rows = candidate_features(
            &model,
            &state.profile,
            &profile,
            &cf,
            &candidates,
            cutoff.min(now),
        );
        // Customers alternate between fitting and measuring, by a hash of their id.
        if crate::experiments::assign_fraction(&state.profile.id, "ranker") < 0.5 {
            fit_labels.extend(candidates.iter().map(|c| relevant.contains(c)));
            fit_rows.extend(rows);
        } else {
            measured.push((candidates, rows, relevant));
        }
    }
    if fit_labels.iter().filter(|l| **l).count() < 10 || measured.is_empty() {
        return Ok(None);
    }
    let ranker = fit_logistic(&fit_rows, &fit_labels, 1e-3, 400);
    let width = FEATURES.len();
    let (mut collaborative, mut learned) = (0.0, 0.0);
    for (candidates, rows, relevant) in &measured {
        let cf_order: Vec<u32> = candidates.clone();
        let mut scored: Vec<(u32, f32)> = candidates
            .iter()
            .zip(rows.chunks(width))
            .map(|(c, row)| (*c, ranker.logit(row)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let ranker_order: Vec<u32> = scored.into_iter().map(|(c, _)| c).collect();
        let mut relevant = relevant.clone();
        relevant.sort_unstable();
        collaborative += ranking_metrics(&cf_order, &relevant, 10).ndcg;
        learned += ranking_metrics(&ranker_order, &relevant, 10).ndcg;
    }
    let users_measured = measured.len();
    Ok(Some(RankerReport {
        cutoff,
        users_fitted: held_out.len() - users_measured,
        users_measured,
        ndcg_collaborative: collaborative / users_measured as f64,
        ndcg_ranker: learned / users_measured as f64,
        model: ranker,
    }))
}

impl UserState {
    /// The history: item id → (summed weight, latest time, latest kind).
    pub(crate) fn history(
        &self,
    ) -> impl Iterator<
        Item = (
            &String,
            &(
                f32,
                DateTime<Utc>,
                finpulse_core::recommend::InteractionKind,
            ),
        ),
    > {
        self.history.iter()
    }

    /// The state as it was before `cutoff` (items last touched before it), and the items first
    /// touched at or after it: a training split in time.
    pub(crate) fn split_at(&self, cutoff: DateTime<Utc>) -> (UserState, HashSet<String>) {
        let mut before = UserState::new(self.profile.clone());
        let mut after = HashSet::new();
        for (item, entry) in &self.history {
            if entry.1 < cutoff {
                before.history.insert(item.clone(), *entry);
            } else {
                after.insert(item.clone());
            }
        }
        before.dismissed = self.dismissed.clone();
        (before, after)
    }
}

impl Recommender {
    /// The same model with description vectors for content similarity.
    pub fn with_content(mut self, content: Option<Content>) -> Self {
        self.content = content.filter(|c| c.len() == self.matrix.item_count());
        self
    }

    /// The same model with a learned ranker for the `ranked` strategy.
    pub fn with_ranker(
        mut self,
        ranker: Option<std::sync::Arc<finpulse_inference::onnx_ranker::OnnxRanker>>,
    ) -> Self {
        self.ranker = ranker;
        self
    }

    /// The ranker serving the `ranked` strategy, if any.
    pub fn ranker(&self) -> Option<&finpulse_inference::onnx_ranker::OnnxRanker> {
        self.ranker.as_deref()
    }

    pub(crate) fn popularity_scores(&self) -> &[f32] {
        &self.popularity
    }

    pub(crate) fn trending_scores(&self) -> Option<&[f32]> {
        self.trending.as_ref().map(|(_, values)| values.as_slice())
    }

    pub(crate) fn content(&self) -> Option<&Content> {
        self.content.as_ref()
    }

    /// A warm customer's profile and collaborative scores.
    pub(crate) fn collaborative(&self, user: &UserState) -> (Profile, Vec<f32>) {
        let profile = self.profile(user);
        let mut scores = vec![0f32; self.matrix.item_count()];
        self.model.score(&profile, &mut scores);
        (profile, scores)
    }

    /// The `ranked` strategy's scores: the collaborative top [`CANDIDATES`] reordered by the
    /// ranker (into (1, 2], above every other item), the rest by the collaborative score
    /// scaled into [0, 1]. Returns the feature sets read; `None` (and collaborative scores)
    /// when the ranker fails.
    pub(crate) fn ranked_scores(
        &self,
        user: &UserState,
        profile: &Profile,
        scores: &mut [f32],
        now: DateTime<Utc>,
    ) -> Option<Vec<String>> {
        let ranker = self.ranker.as_ref()?;
        self.model.score(profile, scores);
        let own: HashSet<u32> = profile.items.iter().map(|(i, _)| *i).collect();
        let candidates: Vec<u32> = top_k(scores, |i| own.contains(&i), CANDIDATES)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        let rows = candidate_features(self, &user.profile, profile, scores, &candidates, now);
        let ranked = match ranker.score(&rows) {
            Ok(ranked) => ranked,
            Err(error) => {
                tracing::warn!(%error, "the ranker failed; collaborative order instead");
                return None;
            }
        };
        let top = scores.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        for score in scores.iter_mut() {
            *score = (*score / top).clamp(0.0, 1.0);
        }
        for (candidate, score) in candidates.iter().zip(ranked) {
            scores[*candidate as usize] = 1.0 + score.clamp(0.0, 1.0);
        }
        Some(
            self.trending
                .iter()
                .map(|(key, _)| key.clone())
                .chain(self.momentum.iter().map(|(key, _)| key.clone()))
                .collect(),
        )
    }
}

/// Where the ranker comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RankerSource {
    /// The manifest's ranker file (trained by `finpulse train recommender`, or yours).
    File(std::path::PathBuf),
    /// Trained at this training, in memory.
    Trained,
    /// Trained at this training, but its order measured below the collaborative order on the
    /// held-out customers, so it is not served (lists keep the collaborative order).
    Rejected,
}

/// The ranker a training serves, and where it came from.
#[derive(Debug, Clone)]
pub struct BuiltRanker {
    /// The loaded ranker; `None` when it was [`RankerSource::Rejected`].
    pub ranker: Option<std::sync::Arc<finpulse_inference::onnx_ranker::OnnxRanker>>,
    /// Where it came from.
    pub source: RankerSource,
    /// What training it found (when trained here).
    pub report: Option<RankerReport>,
}

/// The manifest's ranker file when it is there; otherwise, with `train_here`, one trained now
/// (see [`train`]) and loaded from memory unless it measured worse than the collaborative order
/// ([`RankerSource::Rejected`]). `None` without a manifest `[ranker]` entry, without
/// enough history, or when ONNX Runtime cannot be loaded (logged): lists fall back to the
/// collaborative order. Blocking.
pub fn build(
    manifest: &std::path::Path,
    train_here: bool,
    users: &[UserState],
    catalogue: &Catalogue,
    prefix_model: impl FnOnce(Vec<UserState>) -> Result<Recommender, RecommendError>,
    version: &str,
) -> Option<BuiltRanker> {
    use finpulse_inference::onnx_ranker::OnnxRanker;
    let manifest = match finpulse_inference::Manifest::load(manifest) {
        Ok(manifest) => manifest,
        Err(error) => {
            tracing::info!(%error, "no ranker: the model manifest cannot be read");
            return None;
        }
    };
    let spec = manifest.ranker.clone()?;
    if spec.features != FEATURES {
        tracing::warn!(features = ?spec.features, "the manifest's ranker takes other features than finpulse computes; not used");
        return None;
    }
    let file = manifest.resolve(&spec.file);
    if file.exists() {
        return match OnnxRanker::load(&manifest, spec) {
            Ok(ranker) => Some(BuiltRanker {
                ranker: Some(std::sync::Arc::new(ranker)),
                source: RankerSource::File(file),
                report: None,
            }),
            Err(error) => {
                tracing::warn!(%error, "the ranker file cannot be served");
                None
            }
        };
    }
    if !train_here {
        return None;
    }
    let report = match train(users, catalogue, prefix_model, Utc::now()) {
        Ok(Some(report)) => report,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "ranker training failed");
            return None;
        }
    };
    if !report.earns_its_place() {
        tracing::warn!(
            ndcg_ranker = report.ndcg_ranker,
            ndcg_collaborative = report.ndcg_collaborative,
            users = report.users_measured,
            "the trained ranker orders the held-out customers' candidates worse than the collaborative scores; not served"
        );
        return Some(BuiltRanker {
            ranker: None,
            source: RankerSource::Rejected,
            report: Some(report),
        });
    }
    let bytes = report.model.to_onnx(&spec.input, &spec.output);
    match OnnxRanker::from_bytes(&manifest, spec, &bytes, format!("ranker-{version}")) {
        Ok(ranker) => Some(BuiltRanker {
            ranker: Some(std::sync::Arc::new(ranker)),
            source: RankerSource::Trained,
            report: Some(report),
        }),
        Err(error) => {
            tracing::warn!(%error, "the trained ranker cannot be served");
            None
        }
    }
}
