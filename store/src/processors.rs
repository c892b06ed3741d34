//! What the processor runtime keeps in the store: each processor's streaming state with the
//! log position it reflects, and the events it could not handle (dead letters).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::instrument;

use crate::sql::{from_ms, placeholders, to_ms};
use crate::{DeadLetters, ProcessorStates, Result, SqlStore};

/// A processor's saved streaming state for one key, with the log position it reflects: every
/// record of `partition` up to `offset` is folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorState {
    /// The key (a symbol for the market processor).
    pub key: String,
    /// Log partition the key lives in.
    pub partition: i32,
    /// Offset of the last record folded in.
    pub offset: i64,
    /// The state, serialised by its processor.
    pub state: String,
}

/// An event that a consumer could not handle, kept whole with the reason (dead letter).
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedEvent {
    /// Log topic it was read from.
    pub topic: String,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The record key, when it had one and it was text.
    pub key: Option<String>,
    /// The raw bytes as they were in the log.
    pub payload: Vec<u8>,
    /// Why it was parked.
    pub reason: String,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// Most keys bound in one `IN (…)` list.
const KEYS_PER_QUERY: usize = 500;

impl SqlStore {
    /// `columns` of the saved states of `processor` among `keys`, in chunks of bounded size.
    async fn processor_state_rows(
        &self,
        columns: &str,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<AnyRow>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "SELECT {columns} FROM processor_state WHERE processor = $1 AND state_key IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(processor);
            for key in chunk {
                query = query.bind(key);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }
}

#[async_trait]
impl ProcessorStates for SqlStore {
    #[instrument(skip_all, fields(processor, states = states.len()), err)]
    async fn save_processor_states(
        &self,
        processor: &str,
        states: &[ProcessorState],
    ) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        for state in states {
            sqlx::query(
                "INSERT INTO processor_state (processor, state_key, log_partition, log_offset, state, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (processor, state_key) DO UPDATE SET log_partition = excluded.log_partition,
                   log_offset = excluded.log_offset, state = excluded.state, updated_ms = excluded.updated_ms
                 WHERE excluded.log_partition <> processor_state.log_partition
                   OR excluded.log_offset >= processor_state.log_offset",
            )
            .bind(processor)
            .bind(&state.key)
            .bind(state.partition)
            .bind(state.offset)
            .bind(&state.state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn processor_state_positions(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<(String, i32, i64)>> {
        let rows = self
            .processor_state_rows("state_key, log_partition, log_offset", processor, keys)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("state_key")?,
                    row.try_get("log_partition")?,
                    row.try_get("log_offset")?,
                ))
            })
            .collect()
    }

    async fn processor_states(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<ProcessorState>> {
        let rows = self
            .processor_state_rows(
                "state_key, log_partition, log_offset, state",
                processor,
                keys,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ProcessorState {
                    key: row.try_get("state_key")?,
                    partition: row.try_get("log_partition")?,
                    offset: row.try_get("log_offset")?,
                    state: row.try_get("state")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl DeadLetters for SqlStore {
    #[instrument(skip_all, fields(topic = %event.topic, offset = event.offset), err)]
    async fn park_event(&self, event: &ParkedEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO parked_events (topic, partition, log_offset, event_key, payload, reason, parked_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&event.topic)
        .bind(event.partition)
        .bind(event.offset)
        .bind(&event.key)
        .bind(&event.payload)
        .bind(&event.reason)
        .bind(to_ms(event.parked_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn parked_events(&self, limit: u32) -> Result<Vec<ParkedEvent>> {
        let rows = sqlx::query(
            "SELECT topic, partition, log_offset, event_key, payload, reason, parked_ms
             FROM parked_events ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ParkedEvent {
                    topic: row.try_get("topic")?,
                    partition: row.try_get("partition")?,
                    offset: row.try_get("log_offset")?,
                    key: row.try_get("event_key")?,
                    payload: row.try_get("payload")?,
                    reason: row.try_get("reason")?,
                    parked_at: from_ms(row.try_get("parked_ms")?),
                })
            })
            .collect()
    }
}
