//! The support desk's knowledge base, edited by operators (role `admin`) while it answers:
//! list, write and remove FAQ entries; every replica that answers customers re-indexes.

use async_graphql::{Context, Object};
use finpulse_core::support::FaqEntry;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::support::desk;
use crate::{Need, Role};

/// Knowledge-base queries.
#[derive(Debug, Default)]
pub struct FaqQuery;

#[Object]
impl FaqQuery {
    /// The FAQ entries (every language, or `language`'s), by id then language. Needs the
    /// `admin` role.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn faq_entries(
        &self,
        ctx: &Context<'_>,
        language: Option<String>,
    ) -> ApiResult<Vec<FaqEntry>> {
        let entries = desk(ctx)?
            .faq_entries(language.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(entries)
    }
}

/// Knowledge-base mutations.
#[derive(Debug, Default)]
pub struct FaqMutation;

#[Object]
impl FaqMutation {
    /// Adds an entry or replaces the one with its id and language; the desk answers from it
    /// within about a second. Needs the `admin` role.
    #[instrument(skip_all, fields(id = %entry.id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn put_faq_entry(&self, ctx: &Context<'_>, entry: FaqEntry) -> ApiResult<FaqEntry> {
        let written = desk(ctx)?
            .put_faq_entry(entry)
            .await
            .map_err(ApiError::from)?;
        crate::audit::record(
            ctx,
            "faq.put",
            None,
            Some(&written.id),
            serde_json::json!({ "language": written.language, "intent": written.intent }),
        )
        .await?;
        Ok(written)
    }

    /// Removes an entry in `language`, or in every language; returns how many language
    /// versions went (`NOT_FOUND` when none). Needs the `admin` role.
    #[instrument(skip_all, fields(id = %id), err(Debug))]
    #[graphql(guard = "Need::role(Role::Admin)")]
    async fn delete_faq_entry(
        &self,
        ctx: &Context<'_>,
        id: String,
        language: Option<String>,
    ) -> ApiResult<i32> {
        let removed = desk(ctx)?
            .delete_faq_entry(&id, language.as_deref())
            .await
            .map_err(ApiError::from)?;
        crate::audit::record(
            ctx,
            "faq.delete",
            None,
            Some(&id),
            serde_json::json!({ "language": language, "removed": removed }),
        )
        .await?;
        Ok(i32::try_from(removed).unwrap_or(i32::MAX))
    }
}
