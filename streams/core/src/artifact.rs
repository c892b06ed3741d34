//! Trained models the store keeps, so every replica serves the same one.
//!
//! A model that takes minutes to train (the recommender's collaborative model, its ranker and
//! content vectors) is trained once, by a worker or `finpulse train`, and kept as an artifact:
//! its bytes (in the format of the domain that made it) and a summary for operators. One kept
//! version per model name is *served*; every replica follows that pointer, so a new version or
//! a rollback reaches all of them, and a restarted replica loads the served version instead of
//! training its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One kept version of a trained model (its bytes are read separately: they can be large).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// What model this is a version of (`recommender`).
    pub name: String,
    /// The version, unique per name.
    pub version: String,
    /// When it was trained.
    pub created_at: DateTime<Utc>,
    /// The size of its bytes.
    pub size_bytes: u64,
    /// What operators see of it: the model kind, counts, the format it is written in.
    pub summary: serde_json::Value,
}
