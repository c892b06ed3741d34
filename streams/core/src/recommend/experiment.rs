//! What the recommender's experiments keep: definitions, their lifecycle, the lists shown
//! under them (impressions) and what came of those lists.
//!
//! The statistics (Wilson intervals, the two-proportion test) and the Thompson-sampling bandit
//! are `finpulse-recommend`'s (`experiments`); the store keeps these values and the schema
//! serves them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One arm of an experiment: a name and the recommender strategy it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject, async_graphql::InputObject),
    graphql(input_name = "VariantInput")
)]
pub struct Variant {
    /// Its name (`control`, `hybrid`, …).
    pub name: String,
    /// The strategy it serves (a name of the recommender's strategies).
    pub strategy: String,
    /// Its share of traffic in A/B mode, relative to the other variants' weights.
    pub weight: f64,
}

/// How customers are split between variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Mode {
    /// Fixed shares: a customer's variant is a hash of their id and the salt.
    AbTest,
    /// Thompson sampling: each list goes to the variant a posterior draw favours.
    Bandit,
}

/// Where an experiment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Status {
    /// Defined, not serving.
    Draft,
    /// Serving its variants.
    Running,
    /// No longer serving; results kept.
    Stopped,
    /// Put away; results kept.
    Archived,
}

/// The guardrail: a variant whose dismiss rate's Wilson lower bound exceeds
/// `max_dismiss_rate` once it has `min_impressions` is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject, async_graphql::InputObject),
    graphql(input_name = "GuardrailInput")
)]
pub struct Guardrail {
    /// The highest tolerated dismiss rate (dismissed lists per list shown).
    pub max_dismiss_rate: f64,
    /// Lists shown before the guardrail may act.
    pub min_impressions: u64,
}

impl Default for Guardrail {
    fn default() -> Self {
        Self {
            max_dismiss_rate: 0.2,
            min_impressions: 200,
        }
    }
}

fn default_window_secs() -> u64 {
    24 * 3600
}

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Experiment {
    /// Its id.
    pub id: String,
    /// What it tests, for people.
    #[serde(default)]
    pub description: String,
    /// The hash salt: a new salt reshuffles everyone.
    pub salt: String,
    /// The arms; the first is the control.
    pub variants: Vec<Variant>,
    /// How customers are split.
    pub mode: Mode,
    /// Stops a variant that annoys.
    #[serde(default)]
    pub guardrail: Guardrail,
    /// A click, save or buy counts for a list this long after it was shown.
    #[serde(default = "default_window_secs")]
    pub conversion_window_secs: u64,
    /// Where it is in its life.
    #[serde(default = "draft")]
    pub status: Status,
    /// When it was made.
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
    /// When it last started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped.
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Variants the guardrail stopped.
    #[serde(default)]
    pub stopped_variants: Vec<String>,
}

fn draft() -> Status {
    Status::Draft
}

/// What a variant's lists led to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Counts {
    /// Lists shown.
    pub impressions: u64,
    /// Lists with a shown item opened.
    pub clicks: u64,
    /// Lists with a shown item clicked, saved or bought within the window.
    pub conversions: u64,
    /// Lists with a shown item dismissed.
    pub dismissals: u64,
}

/// A list shown to a customer under an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    /// The list's recommendation id.
    pub recommendation_id: String,
    /// The experiment.
    pub experiment: String,
    /// The variant that made it.
    pub variant: String,
    /// Who saw it.
    pub user: String,
    /// The items shown.
    pub items: Vec<String>,
    /// When it was shown.
    pub at: DateTime<Utc>,
    /// Outcomes after this do not count.
    pub expires_at: DateTime<Utc>,
}

/// What a customer did with a shown list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Opened an item.
    Click,
    /// Clicked, saved or bought an item.
    Conversion,
    /// Dismissed an item.
    Dismissal,
}

/// Impressions of one variant in one time bucket: the bandit's traffic over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficBucket {
    /// The bucket's start.
    pub from: DateTime<Utc>,
    /// The variant.
    pub variant: String,
    /// Lists shown in the bucket.
    pub impressions: u64,
}

// The results' view of the bandit's traffic: a bucket with its share of the bucket's lists.
/// One variant's lists in one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct TrafficPoint {
    /// The bucket's start.
    pub from: DateTime<Utc>,
    /// The variant.
    pub variant: String,
    /// Lists shown in the bucket.
    pub impressions: u64,
    /// Its share of the bucket's lists.
    pub share: f64,
}
