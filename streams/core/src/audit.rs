//! The audit trail's entries: who did or read what, kept append-only and hash-chained by the
//! store (`finpulse_store::audit`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What is recorded: an agent's or admin's read of a customer's data, or a privileged change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The user who did it (`sub` of their token).
    pub actor: String,
    /// The roles their token carried (`agent`, `admin`).
    pub roles: Vec<String>,
    /// What they did, as `domain.verb`: `support.conversation.read`, `faq.put`,
    /// `recommender.rollback`, `experiment.start`.
    pub action: String,
    /// The customer whose data it was, when it was a customer's.
    pub subject: Option<String>,
    /// The thing acted on: a conversation or ticket id, an FAQ entry, a model version.
    pub target: Option<String>,
    /// Anything else worth keeping (the new status, the entry's language), as JSON.
    pub detail: serde_json::Value,
}

/// An entry as kept: its place in the chain and the hashes that bind it there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3…: a gap means a row was removed.
    pub seq: u64,
    /// What was recorded.
    pub entry: NewAuditEntry,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 of this entry's fields and `prev_hash`, hex.
    pub hash: String,
}
