//! Collaborative models for implicit feedback, on one [`Interactions`] matrix.
//!
//! - [`Ease`]: the item-item model of Steck (2019), a closed-form ridge regression of each item
//!   on all others; dense, so for catalogues up to [`CfConfig::max_dense_items`] items.
//! - [`Als`]: matrix factorisation with confidence weights (Hu, Koren, Volinsky 2008), each
//!   side solved by a few conjugate-gradient steps (Takács et al. 2011), users in parallel;
//!   a new interaction folds the user in exactly, item factors fixed.
//! - [`Knn`]: item-kNN, shrunk cosine similarities of the item columns, each item keeping its
//!   nearest neighbours; the classic item-based alternative to EASE, compared with it on the
//!   validation split whenever the model is chosen automatically.
//! - [`Popularity`]: how many users engaged with each item, the baseline beside every figure.
//!
//! Every model scores a [`Profile`] (a user's weighted items), so a user who arrived after the
//! last training, or whose row changed a moment ago, is scored from their current profile with
//! no retraining: for EASE that is exact, for ALS it is the fold-in.

mod als;
mod ease;
mod interactions;
mod knn;
mod popularity;
mod profile;
mod tune;

pub use als::{Als, AlsConfig};
pub use ease::{Ease, EaseConfig, ItemGram};
pub use interactions::{Entry, Interaction, Interactions, Rows};
pub use knn::{Knn, KnnConfig};
pub use popularity::Popularity;
pub use profile::{Profile, top_k};
pub use tune::{Holdout, Tuned, tune};

use serde::{Deserialize, Serialize};

use crate::RecommendError;

/// Which collaborative model to train (`recommend.service.model.kind`, and `finpulse eval
/// recommender --model` with the `cli` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum CfKind {
    /// EASE while the catalogue fits `max_dense_items` (20,000 by default), ALS beyond; tuning
    /// also tries item-kNN where EASE fits, and keeps what scores best on its validation split.
    #[default]
    Auto,
    /// Always EASE.
    Ease,
    /// Always ALS.
    Als,
    /// Always item-kNN.
    Knn,
}

/// The collaborative model's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CfConfig {
    /// Which model.
    pub kind: CfKind,
    /// EASE's settings.
    pub ease: EaseConfig,
    /// ALS's settings.
    pub als: AlsConfig,
    /// Item-kNN's settings.
    pub knn: KnnConfig,
    /// The largest catalogue EASE is used for: its item × item matrix takes 4 bytes a cell
    /// (20,000 items: 1.6 GB) and its training grows with the cube of the item count.
    pub max_dense_items: usize,
    /// How fast old interactions fade from a user's profile: the user's k-th most recent item
    /// weighs `exp(-k / (recency × n))` for a user with n items; 0 turns fading off.
    pub recency: f32,
}

impl Default for CfConfig {
    fn default() -> Self {
        Self {
            kind: CfKind::Auto,
            ease: EaseConfig::default(),
            als: AlsConfig::default(),
            knn: KnnConfig::default(),
            max_dense_items: 20_000,
            recency: 0.0,
        }
    }
}

impl CfConfig {
    /// The settings of `model` (a [`Cf::name`]) in words, for reports.
    pub fn describe(&self, model: &str) -> String {
        match model {
            "ease" => format!("lambda {:.0}", self.ease.lambda),
            "knn" => format!(
                "{} neighbours, shrink {}",
                self.knn.neighbours, self.knn.shrink
            ),
            _ => format!(
                "{} factors, regularization {}, alpha {}",
                self.als.factors, self.als.regularization, self.als.alpha
            ),
        }
    }
}

/// A trained collaborative model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Cf {
    /// EASE.
    Ease(Ease),
    /// ALS.
    Als(Als),
    /// Item-kNN.
    Knn(Knn),
}

impl Cf {
    /// Trains the configured model.
    pub fn fit(interactions: &Interactions, config: &CfConfig) -> Result<Self, RecommendError> {
        let use_ease = match config.kind {
            CfKind::Ease => true,
            CfKind::Als => false,
            CfKind::Knn => return Ok(Self::Knn(Knn::fit(interactions, &config.knn)?)),
            CfKind::Auto => interactions.item_count() <= config.max_dense_items,
        };
        if use_ease {
            Ok(Self::Ease(Ease::fit(interactions, &config.ease)?))
        } else {
            Ok(Self::Als(Als::fit(interactions, &config.als)?))
        }
    }

    /// The model's name, for provenance and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ease(_) => "ease",
            Self::Als(_) => "als",
            Self::Knn(_) => "knn",
        }
    }

    /// How much engaging with `from` raises the score of `to`, for the item-based models
    /// (`None` for ALS, whose scores have no item-to-item cell).
    pub fn item_weight(&self, from: u32, to: u32) -> Option<f32> {
        match self {
            Self::Ease(model) => Some(model.weight(from, to)),
            Self::Knn(model) => Some(model.weight(from, to)),
            Self::Als(_) => None,
        }
    }

    /// Scores every item for a profile into `scores` (one slot per item).
    pub fn score(&self, profile: &Profile, scores: &mut [f32]) {
        match self {
            Self::Ease(model) => model.score(profile, scores),
            Self::Als(model) => model.score(profile, scores),
            Self::Knn(model) => model.score(profile, scores),
        }
    }
}
