//! The feature store's vocabulary: feature sets (named, versioned, typed, with the entity they
//! describe and where their values come from) and feature rows (one entity's values at one
//! event time).
//!
//! A feature set never changes once published: a new computation or a new feature is a new
//! version, so a model trained on `user_engagement@1` keeps reading exactly what it learnt from.
//! The store keeps rows offline (every event time, for point-in-time training reads) and online
//! (the newest row per entity, for serving).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a feature set describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// A customer (by user id).
    User,
    /// A catalogue item (by item id).
    Item,
}

/// A feature's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    /// A 64-bit integer (counts).
    Int,
    /// A 64-bit float (rates, means).
    Float,
    /// True or false.
    Bool,
    /// Text (a category).
    Text,
}

/// One feature of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Its name, unique in the set.
    pub name: String,
    /// Its type.
    pub kind: FeatureType,
    /// What it means, for people.
    pub description: String,
}

/// A feature set: the unit that is versioned, materialized and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// Its name (`user_engagement`).
    pub name: String,
    /// Its version: 1, 2, …
    pub version: u32,
    /// What each row describes.
    pub entity: Entity,
    /// Its features, in order.
    pub features: Vec<FeatureSpec>,
    /// Where the values come from and over which window, for people.
    pub source: String,
}

impl FeatureSet {
    /// `name@version`, as provenance names it.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// A feature's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
}

impl FeatureValue {
    /// Whether this value is of `kind`.
    pub fn is(&self, kind: FeatureType) -> bool {
        matches!(
            (self, kind),
            (Self::Int(_), FeatureType::Int)
                | (Self::Float(_), FeatureType::Float)
                | (Self::Bool(_), FeatureType::Bool)
                | (Self::Text(_), FeatureType::Text)
        )
    }

    /// The value as a number (booleans as 0 and 1; text has none).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(value) => Some(*value as f64),
            Self::Float(value) => Some(*value),
            Self::Bool(value) => Some(f64::from(u8::from(*value))),
            Self::Text(_) => None,
        }
    }
}

/// One entity's values of one feature set, as they were at `event_time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    /// The set's name.
    pub set: String,
    /// The set's version.
    pub version: u32,
    /// The entity's id.
    pub entity_id: String,
    /// The time the values describe: computed from what was known then, nothing later.
    pub event_time: DateTime<Utc>,
    /// The values by feature name.
    pub values: BTreeMap<String, FeatureValue>,
}

/// How much of a feature set the offline store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// Rows kept.
    pub rows: u64,
    /// Distinct entities.
    pub entities: u64,
    /// The earliest event time.
    pub first: Option<DateTime<Utc>>,
    /// The latest event time.
    pub last: Option<DateTime<Utc>>,
}
