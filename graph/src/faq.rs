//! The support desk's knowledge base, edited by operators (role `admin`) while it answers:
//! list, write and remove FAQ entries; every replica that answers customers re-indexes.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use finpulse_core::support::FaqEntry as StoredFaqEntry;
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::support::desk;
use crate::{Need, Role};

/// One FAQ entry in one language.
#[derive(Debug, Clone, SimpleObject)]
pub struct FaqEntry {
    /// The id its languages share (`card-declined`).
    pub id: String,
    /// ISO 639-1 code of the questions and answer.
    pub language: String,
    /// The intent it answers (`card_payment_failed`).
    pub intent: String,
    /// Free labels.
    pub tags: Vec<String>,
    /// The ways a customer might ask it.
    pub questions: Vec<String>,
    /// The answer, with `{placeholders}` filled from the customer's account.
    pub answer: String,
}

impl From<StoredFaqEntry> for FaqEntry {
    fn from(entry: StoredFaqEntry) -> Self {
        Self {
            id: entry.id,
            language: entry.language,
            intent: entry.intent,
            tags: entry.tags,
            questions: entry.questions,
            answer: entry.answer,
        }
    }
}

/// An entry to write: it replaces the one with the same id and language.
#[derive(Debug, Clone, InputObject)]
pub struct FaqEntryInput {
    /// The id its languages share (1 to 128 bytes).
    pub id: String,
    /// ISO 639-1 code (`en`, `de`).
    pub language: String,
    /// The intent it answers.
    #[graphql(default)]
    pub intent: String,
    /// Free labels (at most 32).
    #[graphql(default)]
    pub tags: Vec<String>,
    /// The ways a customer might ask it (1 to 100).
    pub questions: Vec<String>,
    /// The answer (up to 8,000 bytes); `{name}`, `{card_status}` and the other placeholders
    /// are filled from the customer's account.
    pub answer: String,
}

impl From<FaqEntryInput> for StoredFaqEntry {
    fn from(input: FaqEntryInput) -> Self {
        Self {
            id: input.id,
            language: input.language,
            intent: input.intent,
            tags: input.tags,
            questions: input.questions,
            answer: input.answer,
        }
    }
}

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
        Ok(entries.into_iter().map(FaqEntry::from).collect())
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
    async fn put_faq_entry(&self, ctx: &Context<'_>, entry: FaqEntryInput) -> ApiResult<FaqEntry> {
        let written = desk(ctx)?
            .put_faq_entry(entry.into())
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
        Ok(written.into())
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
