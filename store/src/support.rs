//! The support desk's repository on the SQL engines (`migrations/*/0006_support.sql`): FAQ
//! entries, conversations, participants and messages; `0007_support_accounts.sql`: the account
//! facts replies quote; `0010_support_agents.sql`: the agents conversations may go to.
//!
//! Values are stored whole as JSON in the shape of their `finpulse-core` types, with the
//! columns queries select by beside them; a row this build cannot read (written by a newer
//! release) is left out with a warning.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use finpulse_core::support::{
    Conversation, ConversationStatus, CsatCounts, CustomerAccount, FaqEntry, Message, Participant,
};
use sqlx::Row;
use tracing::{instrument, warn};

use crate::sql::{decode_all, to_ms};
use crate::{Result, SqlStore, SupportData};

/// Most rows one listing call returns.
const MAX_LIMIT: u32 = 10_000;

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("support values serialise")
}

#[async_trait]
impl SupportData for SqlStore {
    #[instrument(skip_all, fields(entries = entries.len()), err)]
    async fn upsert_faq_entries(&self, entries: &[FaqEntry]) -> Result<()> {
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        for entry in entries {
            sqlx::query(
                "INSERT INTO sup_faq_entry (id, language, data, updated_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id, language) DO UPDATE SET data = excluded.data,
                     updated_ms = excluded.updated_ms",
            )
            .bind(&entry.id)
            .bind(&entry.language)
            .bind(encode(entry))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn faq_entries(&self) -> Result<Vec<FaqEntry>> {
        let rows = sqlx::query("SELECT data FROM sup_faq_entry ORDER BY id, language")
            .fetch_all(&self.pool)
            .await?;
        decode_all(rows, "faq entry")
    }

    #[instrument(skip_all, fields(id), err)]
    async fn delete_faq_entry(&self, id: &str, language: Option<&str>) -> Result<u64> {
        let done = match language {
            Some(language) => {
                sqlx::query("DELETE FROM sup_faq_entry WHERE id = $1 AND language = $2")
                    .bind(id)
                    .bind(language)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM sup_faq_entry WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }

    #[instrument(skip_all, fields(conversation = %conversation.id), err)]
    async fn create_conversation(&self, conversation: &Conversation) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO sup_conversation (id, customer_id, status, data, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&conversation.id)
        .bind(&conversation.customer)
        .bind(conversation.status.as_str())
        .bind(encode(conversation))
        .bind(to_ms(conversation.created_at))
        .bind(to_ms(conversation.updated_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "INSERT INTO sup_participant (conversation_id, user_id, role, joined_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&conversation.id)
            .bind(&conversation.customer)
            .bind(Participant::Customer.as_str())
            .bind(to_ms(conversation.created_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip_all, fields(conversation = %conversation.id), err)]
    async fn update_conversation(&self, conversation: &Conversation) -> Result<bool> {
        // The customer never changes: a conversation cannot be moved to another customer.
        let done = sqlx::query(
            "UPDATE sup_conversation SET status = $3, data = $4, updated_ms = $5
             WHERE id = $1 AND customer_id = $2",
        )
        .bind(&conversation.id)
        .bind(&conversation.customer)
        .bind(conversation.status.as_str())
        .bind(encode(conversation))
        .bind(to_ms(conversation.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        let rows = sqlx::query("SELECT data FROM sup_conversation WHERE id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(decode_all(rows, "conversation")?.into_iter().next())
    }

    async fn conversations_of(&self, customer: &str, limit: u32) -> Result<Vec<Conversation>> {
        let rows = sqlx::query(
            "SELECT data FROM sup_conversation WHERE customer_id = $1
             ORDER BY updated_ms DESC, id LIMIT $2",
        )
        .bind(customer)
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, "conversation")
    }

    async fn csat_counts(&self) -> Result<CsatCounts> {
        // The rating sits in the row's JSON; each engine reads it with its own function.
        let score = match self.engine() {
            crate::Engine::Sqlite => "CAST(json_extract(data, '$.csat') AS BIGINT)",
            crate::Engine::Postgres => "CAST(CAST(data AS jsonb) ->> 'csat' AS BIGINT)",
        };
        let rows = sqlx::query(&format!(
            "SELECT {score} AS score, COUNT(*) AS n FROM sup_conversation
             WHERE status = $1 GROUP BY 1"
        ))
        .bind(ConversationStatus::Resolved.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut counts = CsatCounts::default();
        for row in &rows {
            let score: Option<i64> = row.try_get("score")?;
            let n: i64 = row.try_get("n")?;
            counts.resolved += n as u64;
            if let Some(slot) = score
                .and_then(|s| usize::try_from(s - 1).ok())
                .and_then(|i| counts.by_score.get_mut(i))
            {
                *slot += n as u64;
            }
        }
        Ok(counts)
    }

    async fn conversations_in(
        &self,
        status: ConversationStatus,
        limit: u32,
    ) -> Result<Vec<Conversation>> {
        let rows = sqlx::query(
            "SELECT data FROM sup_conversation WHERE status = $1
             ORDER BY updated_ms, id LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, "conversation")
    }

    #[instrument(skip_all, fields(messages = messages.len()), err)]
    async fn add_messages(&self, messages: &[Message]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for message in messages {
            sqlx::query(
                "INSERT INTO sup_message (id, conversation_id, data, at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&message.id)
            .bind(&message.conversation)
            .bind(encode(message))
            .bind(to_ms(message.at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn messages(&self, conversation: &str, last: u32) -> Result<Vec<Message>> {
        let rows = sqlx::query(
            "SELECT data FROM sup_message WHERE conversation_id = $1
             ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(conversation)
        .bind(i64::from(last.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        let mut messages: Vec<Message> = decode_all(rows, "message")?;
        messages.reverse();
        Ok(messages)
    }

    #[instrument(skip_all, fields(conversation, user), err)]
    async fn add_participant(
        &self,
        conversation: &str,
        user: &str,
        role: Participant,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sup_participant (conversation_id, user_id, role, joined_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(conversation)
        .bind(user)
        .bind(role.as_str())
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn participants(&self, conversation: &str) -> Result<Vec<(String, Participant)>> {
        let rows = sqlx::query(
            "SELECT user_id, role FROM sup_participant WHERE conversation_id = $1
             ORDER BY joined_ms, user_id",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        let mut participants = Vec::with_capacity(rows.len());
        for row in rows {
            let role: String = row.try_get("role")?;
            match Participant::parse(&role) {
                Some(role) => participants.push((row.try_get("user_id")?, role)),
                None => warn!(%role, "skipped a participant of an unknown role"),
            }
        }
        Ok(participants)
    }

    #[instrument(skip_all, fields(accounts = accounts.len()), err)]
    async fn upsert_customer_accounts(&self, accounts: &[CustomerAccount]) -> Result<()> {
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        for account in accounts {
            sqlx::query(
                "INSERT INTO sup_customer (id, data, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data,
                     updated_ms = excluded.updated_ms",
            )
            .bind(&account.customer)
            .bind(encode(account))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn customer_account(&self, customer: &str) -> Result<Option<CustomerAccount>> {
        let rows = sqlx::query("SELECT data FROM sup_customer WHERE id = $1")
            .bind(customer)
            .fetch_all(&self.pool)
            .await?;
        Ok(decode_all(rows, "customer account")?.into_iter().next())
    }

    #[instrument(skip_all, err)]
    async fn record_agent(&self, user: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO sup_agent (user_id, first_seen_ms, last_seen_ms) VALUES ($1, $2, $2)
             ON CONFLICT (user_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
        )
        .bind(user)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_agent(&self, user: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM sup_agent WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn agents(&self, limit: u32) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT user_id FROM sup_agent ORDER BY user_id LIMIT $1")
            .bind(i64::from(limit.min(MAX_LIMIT)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("user_id").map_err(Into::into))
            .collect()
    }
}
