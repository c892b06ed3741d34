//! The audit trail on the SQL engines (`migrations/*/0011_audit_log.sql`): append-only and
//! hash-chained.
//!
//! Entry `n` keeps `hash(n) = SHA-256(fields of n ‖ hash(n − 1))`, the first chaining to 64
//! zeros. The fields are hashed as stored (the detail as its JSON text, the time in epoch
//! milliseconds), each prefixed by its length, so no two different entries hash alike and
//! verification never depends on how JSON is re-serialised. An edited row no longer matches
//! its hash; a removed one leaves a gap in `seq` and a `prev_hash` that names a row that is not
//! before it. Removing the newest rows leaves a shorter chain that is still whole: keep the head
//! hash that `finpulse audit verify` prints somewhere else and pass it back with `--head`.
//!
//! Replicas append concurrently without a lock: each reads the newest entry and inserts the
//! next `seq`; the primary key refuses all but one, and the others read again.

use async_trait::async_trait;
use finpulse_core::audit::{AuditEntry, NewAuditEntry};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::instrument;

use crate::sql::{from_ms, to_ms};
use crate::{Result, SqlStore, StoreError};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Most entries one listing returns.
const MAX_LIMIT: u32 = 1_000;

/// Rows read per page while verifying.
const VERIFY_PAGE: i64 = 5_000;

/// Tries at appending before a busy chain is reported as an error.
const APPEND_TRIES: usize = 64;

/// Which entries a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only those about this customer.
    pub subject: Option<String>,
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// A row is missing before `found`.
    #[error("entry {expected} is missing (the next one kept is {found})")]
    Gap {
        /// The `seq` that should come next.
        expected: u64,
        /// The `seq` that came.
        found: u64,
    },
    /// A row's fields do not match its hash: it was edited.
    #[error("entry {seq} was changed after it was written (its hash does not match)")]
    Edited {
        /// The row.
        seq: u64,
    },
    /// A row does not chain to the one before it.
    #[error("entry {seq} does not follow entry {} (its previous hash differs)", seq - 1)]
    Relinked {
        /// The row.
        seq: u64,
    },
    /// The head hash given to check against is not in the chain: rows were removed from its
    /// end, or it is another log's.
    #[error(
        "the expected head {0} is not in the log: newer entries were removed, or it is another log's"
    )]
    HeadMissing(String),
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries read.
    pub entries: u64,
    /// The newest entry's hash, when there is one.
    pub head: Option<String>,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

/// The audit trail's store.
#[async_trait]
pub trait AuditData: Send + Sync + 'static {
    /// Appends `entry` as the next in the chain; returns it as kept.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;

    /// Entries matching `filter`, newest first, older than `before` (a `seq`) when given, at
    /// most `limit` (capped at 1,000).
    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// Reads the whole chain, oldest first, and checks every link; `head`, when given, must be
    /// the hash of one of its entries.
    async fn verify_audit_chain(&self, head: Option<&str>) -> Result<ChainReport>;
}

/// The fields of an entry as they are stored and hashed.
struct Stored {
    seq: u64,
    at_ms: i64,
    actor: String,
    roles: String,
    action: String,
    subject: Option<String>,
    target: Option<String>,
    detail: String,
}

impl Stored {
    fn hash(&self, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(&self.seq.to_le_bytes());
        field(&self.at_ms.to_le_bytes());
        field(self.actor.as_bytes());
        field(self.roles.as_bytes());
        field(self.action.as_bytes());
        for optional in [&self.subject, &self.target] {
            match optional {
                Some(value) => {
                    field(b"1");
                    field(value.as_bytes());
                }
                None => field(b"0"),
            }
        }
        field(self.detail.as_bytes());
        field(prev_hash.as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn read(row: &AnyRow) -> Result<(Self, String, String)> {
        let seq: i64 = row.try_get("seq")?;
        Ok((
            Self {
                seq: seq as u64,
                at_ms: row.try_get("at_ms")?,
                actor: row.try_get("actor")?,
                roles: row.try_get("roles")?,
                action: row.try_get("action")?,
                subject: row.try_get("subject")?,
                target: row.try_get("target")?,
                detail: row.try_get("detail")?,
            },
            row.try_get("prev_hash")?,
            row.try_get("hash")?,
        ))
    }

    fn entry(self, prev_hash: String, hash: String) -> Result<AuditEntry> {
        fn decode<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
            serde_json::from_str(text).map_err(|source| StoreError::Decode { what, source })
        }
        Ok(AuditEntry {
            seq: self.seq,
            entry: NewAuditEntry {
                at: from_ms(self.at_ms),
                actor: self.actor,
                roles: decode("audit roles", &self.roles)?,
                action: self.action,
                subject: self.subject,
                target: self.target,
                detail: decode("audit detail", &self.detail)?,
            },
            prev_hash,
            hash,
        })
    }
}

const COLUMNS: &str = "seq, at_ms, actor, roles, action, subject, target, detail, prev_hash, hash";

#[async_trait]
impl AuditData for SqlStore {
    #[instrument(skip_all, fields(action = %entry.action), err)]
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry> {
        let mut last_error = None;
        for _ in 0..APPEND_TRIES {
            let newest = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
            let (seq, prev_hash) = match newest {
                Some(row) => (
                    row.try_get::<i64, _>("seq")? as u64 + 1,
                    row.try_get::<String, _>("hash")?,
                ),
                None => (1, GENESIS.to_owned()),
            };
            let stored = Stored {
                seq,
                at_ms: to_ms(entry.at),
                actor: entry.actor.clone(),
                roles: serde_json::to_string(&entry.roles).expect("strings serialise"),
                action: entry.action.clone(),
                subject: entry.subject.clone(),
                target: entry.target.clone(),
                detail: entry.detail.to_string(),
            };
            let hash = stored.hash(&prev_hash);
            let inserted = sqlx::query(
                "INSERT INTO audit_log (seq, at_ms, actor, roles, action, subject, target, detail,
                     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(seq as i64)
            .bind(stored.at_ms)
            .bind(&stored.actor)
            .bind(&stored.roles)
            .bind(&stored.action)
            .bind(&stored.subject)
            .bind(&stored.target)
            .bind(&stored.detail)
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return stored.entry(prev_hash, hash),
                // Another replica took this `seq`: read the new newest and chain to it.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    last_error = Some(sqlx::Error::Database(e));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last_error
            .expect("every try that did not return lost its seq to another replica")
            .into())
    }

    #[instrument(skip_all, err)]
    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let before = before.map_or(i64::MAX, |seq| seq.min(i64::MAX as u64) as i64);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log
             WHERE seq < $1 AND (CAST($2 AS TEXT) IS NULL OR actor = $2)
               AND (CAST($3 AS TEXT) IS NULL OR subject = $3)
             ORDER BY seq DESC LIMIT $4"
        ))
        .bind(before)
        .bind(&filter.actor)
        .bind(&filter.subject)
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let (stored, prev_hash, hash) = Stored::read(row)?;
                stored.entry(prev_hash, hash)
            })
            .collect()
    }

    #[instrument(skip_all, err)]
    async fn verify_audit_chain(&self, head: Option<&str>) -> Result<ChainReport> {
        let mut report = ChainReport {
            entries: 0,
            head: None,
            broken: None,
        };
        let mut expected_seq = 1u64;
        let mut prev_hash = GENESIS.to_owned();
        let mut head_seen = head.is_none();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
            ))
            .bind(expected_seq as i64)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let (stored, stored_prev, stored_hash) = Stored::read(row)?;
                report.entries += 1;
                let problem = if stored.seq != expected_seq {
                    Some(ChainBreak::Gap {
                        expected: expected_seq,
                        found: stored.seq,
                    })
                } else if stored.hash(&stored_prev) != stored_hash {
                    Some(ChainBreak::Edited { seq: stored.seq })
                } else if stored_prev != prev_hash {
                    Some(ChainBreak::Relinked { seq: stored.seq })
                } else {
                    None
                };
                if let Some(problem) = problem {
                    report.broken = Some(problem);
                    return Ok(report);
                }
                head_seen |= head == Some(stored_hash.as_str());
                expected_seq = stored.seq + 1;
                prev_hash = stored_hash;
            }
            report.head = Some(prev_hash.clone());
        }
        if !head_seen {
            report.broken = Some(ChainBreak::HeadMissing(head.unwrap_or_default().to_owned()));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(detail: &str) -> Stored {
        Stored {
            seq: 1,
            at_ms: 1_700_000_000_000,
            actor: "ops".into(),
            roles: "[\"admin\"]".into(),
            action: "faq.put".into(),
            subject: None,
            target: Some("card-design".into()),
            detail: detail.into(),
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = stored("{}").hash(GENESIS);
        assert_eq!(base.len(), 64);
        assert_eq!(base, stored("{}").hash(GENESIS), "deterministic");
        assert_ne!(base, stored("{\"a\":1}").hash(GENESIS));
        assert_ne!(base, stored("{}").hash(&"1".repeat(64)));
        let mut moved = stored("{}");
        moved.seq = 2;
        assert_ne!(base, moved.hash(GENESIS));
        // A subject of "" is not the same as none, and fields cannot be shifted into each
        // other: the lengths are hashed too.
        let mut empty_subject = stored("{}");
        empty_subject.subject = Some(String::new());
        assert_ne!(base, empty_subject.hash(GENESIS));
        let mut shifted = stored("{}");
        shifted.actor = "op".into();
        shifted.roles = "s[\"admin\"]".into();
        assert_ne!(base, shifted.hash(GENESIS));
    }
}
