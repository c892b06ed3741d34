//! The audit trail in the API: what agents and admins read of customers' data and every
//! privileged change is appended to the store's hash-chained log ([`record`]), and admins read
//! it back with `auditLog`.
//!
//! Recording fails closed: when the entry cannot be written, the read or change it was for
//! answers `INTERNAL` instead of going unrecorded. Only callers with the `agent` or `admin`
//! role are recorded; a customer reading their own data is not an audit event.

use async_graphql::{Context, ID, Json, Object};
use chrono::{DateTime, Utc};
use finpulse_core::audit::{AuditEntry, NewAuditEntry};
use finpulse_store::AuditFilter;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::{GraphContext, Need, Principal, Role};

/// Most entries one `auditLog` returns.
const MAX_ENTRIES: i32 = 500;

/// Appends `action` by the caller, when they are an agent or an admin: `subject` is the
/// customer whose data it was, `target` what was read or changed.
pub(crate) async fn record(
    ctx: &Context<'_>,
    action: &str,
    subject: Option<&str>,
    target: Option<&str>,
    detail: serde_json::Value,
) -> ApiResult<()> {
    let principal = ctx.data::<Principal>()?;
    if !(principal.has_role(Role::Agent) || principal.has_role(Role::Admin)) {
        return Ok(());
    }
    let actor = principal.require_user()?;
    let entry = NewAuditEntry {
        at: Utc::now(),
        actor: actor.to_owned(),
        roles: principal
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        action: action.to_owned(),
        subject: subject.map(str::to_owned),
        target: target.map(str::to_owned),
        detail,
    };
    ctx.data::<GraphContext>()?
        .audit
        .append_audit(&entry)
        .await
        .map_err(ApiError::from)?;
    Ok(())
}

/// One entry of the audit log.
pub struct AuditLogEntry(AuditEntry);

#[Object]
impl AuditLogEntry {
    /// Its place in the chain (1, 2, 3…); pass the last one seen as `after` for older ones.
    async fn seq(&self) -> ID {
        ID(self.0.seq.to_string())
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.entry.at
    }

    /// Who did it.
    async fn actor(&self) -> &str {
        &self.0.entry.actor
    }

    /// The roles their token carried.
    async fn roles(&self) -> &[String] {
        &self.0.entry.roles
    }

    /// What they did (`support.conversation.read`, `faq.put`, `recommender.rollback`…).
    async fn action(&self) -> &str {
        &self.0.entry.action
    }

    /// The customer whose data it was, when it was a customer's.
    async fn subject(&self) -> Option<&str> {
        self.0.entry.subject.as_deref()
    }

    /// What was read or changed: a conversation or ticket id, an FAQ entry, a version.
    async fn target(&self) -> Option<&str> {
        self.0.entry.target.as_deref()
    }

    /// Details (the new status, the entry's language).
    async fn detail(&self) -> Json<serde_json::Value> {
        Json(self.0.entry.detail.clone())
    }

    /// SHA-256 of the entry and `prevHash`: `finpulse audit verify` recomputes it.
    async fn hash(&self) -> &str {
        &self.0.hash
    }

    /// The previous entry's hash.
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
}

/// Audit queries.
#[derive(Debug, Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first: agents' and admins' reads of customers' conversations and
    /// tickets, and every privileged change. `after`: the `seq` of the last entry seen;
    /// `actor`, `subject`: only that user's doings, only about that customer. Needs `admin`.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<ID>,
        actor: Option<String>,
        subject: Option<String>,
    ) -> ApiResult<Vec<AuditLogEntry>> {
        if !(1..=MAX_ENTRIES).contains(&first) {
            return Err(ApiError::BadUserInput(format!("first must be 1 to {MAX_ENTRIES}")).into());
        }
        let before = match &after {
            Some(cursor) => Some(cursor.parse::<u64>().map_err(|_| {
                async_graphql::Error::from(ApiError::BadUserInput(format!(
                    "after `{}` is not an entry's seq",
                    cursor.as_str()
                )))
            })?),
            None => None,
        };
        let filter = AuditFilter { actor, subject };
        let entries = ctx
            .data::<GraphContext>()?
            .audit
            .audit_entries(&filter, before, first as u32)
            .await
            .map_err(ApiError::from)?;
        Ok(entries.into_iter().map(AuditLogEntry).collect())
    }
}
