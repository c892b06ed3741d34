//! The feature store's backends: offline rows on the SQL engines
//! (`migrations/*/0005_features.sql`), and the online store of the newest row per entity, in
//! Redis ([`RedisOnlineFeatures`], distributed mode) or in process ([`MemoryOnlineFeatures`],
//! the embedded default).
//!
//! Both online stores keep the newer row: writing a row older than the one held (a backfill of
//! a past time) changes nothing, so serving never goes back in time.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::Utc;
use finpulse_core::feature_store::{FeatureRow, FeatureSummary};
use parking_lot::RwLock;
use redis::aio::ConnectionManager;
use sqlx::Row;
use tracing::{instrument, warn};

use crate::sql::{from_ms, placeholders, to_ms};
use crate::{FeatureData, OnlineFeatures, Result, SqlStore, StoreError};

#[async_trait]
impl FeatureData for SqlStore {
    #[instrument(skip_all, fields(rows = rows.len()), err)]
    async fn write_feature_rows(&self, rows: &[FeatureRow]) -> Result<()> {
        let now = Utc::now().timestamp_millis();
        let mut tx = self.pool.begin().await?;
        for row in rows {
            let values = serde_json::to_string(&row.values).expect("feature values serialise");
            sqlx::query(
                "INSERT INTO feature_row (set_name, version, entity_id, event_ms, feature_values, written_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (set_name, version, entity_id, event_ms) DO UPDATE
                 SET feature_values = excluded.feature_values, written_ms = excluded.written_ms",
            )
            .bind(&row.set)
            .bind(i64::from(row.version))
            .bind(&row.entity_id)
            .bind(to_ms(row.event_time))
            .bind(values)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn feature_rows(
        &self,
        set: &str,
        version: u32,
        entities: &[String],
    ) -> Result<Vec<FeatureRow>> {
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        // A few thousand entities a statement keeps within every engine's parameter limit.
        for chunk in entities.chunks(2_000) {
            let sql = format!(
                "SELECT entity_id, event_ms, feature_values FROM feature_row
                 WHERE set_name = $1 AND version = $2 AND entity_id IN ({})
                 ORDER BY entity_id, event_ms",
                placeholders(3, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(set).bind(i64::from(version));
            for entity in chunk {
                query = query.bind(entity);
            }
            for row in query.fetch_all(&self.pool).await? {
                let values: String = row.try_get("feature_values")?;
                let values = match serde_json::from_str(&values) {
                    Ok(values) => values,
                    Err(error) => {
                        warn!(%error, set, "skipped a feature row this build cannot read");
                        continue;
                    }
                };
                rows.push(FeatureRow {
                    set: set.to_owned(),
                    version,
                    entity_id: row.try_get("entity_id")?,
                    event_time: from_ms(row.try_get("event_ms")?),
                    values,
                });
            }
        }
        Ok(rows)
    }

    async fn feature_entities(&self, set: &str, version: u32, limit: u32) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT entity_id FROM feature_row WHERE set_name = $1 AND version = $2
             ORDER BY entity_id LIMIT {}",
            limit.min(100_000)
        );
        let rows = sqlx::query(&sql)
            .bind(set)
            .bind(i64::from(version))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("entity_id")?))
            .collect()
    }

    async fn feature_summary(&self, set: &str, version: u32) -> Result<FeatureSummary> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS row_count, COUNT(DISTINCT entity_id) AS entity_count,
                    MIN(event_ms) AS first_ms, MAX(event_ms) AS last_ms
             FROM feature_row WHERE set_name = $1 AND version = $2",
        )
        .bind(set)
        .bind(i64::from(version))
        .fetch_one(&self.pool)
        .await?;
        let count =
            |column: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(column)?.max(0) as u64) };
        Ok(FeatureSummary {
            rows: count("row_count")?,
            entities: count("entity_count")?,
            first: row.try_get::<Option<i64>, _>("first_ms")?.map(from_ms),
            last: row.try_get::<Option<i64>, _>("last_ms")?.map(from_ms),
        })
    }
}

fn online_key(set: &str, version: u32, entity: &str) -> (String, String, String) {
    (set.to_owned(), version.to_string(), entity.to_owned())
}

/// The online store in process: the embedded default.
#[derive(Debug, Default)]
pub struct MemoryOnlineFeatures {
    rows: RwLock<HashMap<(String, String, String), FeatureRow>>,
}

#[async_trait]
impl OnlineFeatures for MemoryOnlineFeatures {
    async fn put(&self, rows: &[FeatureRow]) -> Result<()> {
        let mut held = self.rows.write();
        for row in rows {
            let key = online_key(&row.set, row.version, &row.entity_id);
            let newer = held
                .get(&key)
                .is_none_or(|kept| kept.event_time <= row.event_time);
            if newer {
                held.insert(key, row.clone());
            }
        }
        Ok(())
    }

    async fn get(
        &self,
        set: &str,
        version: u32,
        entities: &[String],
    ) -> Result<Vec<Option<FeatureRow>>> {
        let held = self.rows.read();
        Ok(entities
            .iter()
            .map(|entity| held.get(&online_key(set, version, entity)).cloned())
            .collect())
    }
}

/// The online store in Redis: one hash per entity (`event_ms`, `row`), so every replica serves
/// the same newest values.
#[derive(Clone)]
pub struct RedisOnlineFeatures {
    redis: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisOnlineFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOnlineFeatures")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Sets the row unless the one held is newer, in one step on the server.
const PUT_IF_NEWER: &str = r"
local held = redis.call('HGET', KEYS[1], 'event_ms')
if (not held) or tonumber(held) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'event_ms', ARGV[1], 'row', ARGV[2])
  return 1
end
return 0";

impl RedisOnlineFeatures {
    /// Connects to `url` (with `tls` for `rediss://`); every key starts with `prefix`.
    pub async fn connect(
        url: &str,
        tls: &finpulse_core::redis_tls::RedisTls,
        prefix: impl Into<String>,
    ) -> Result<Self> {
        let client = tls
            .client(url)
            .map_err(|e| StoreError::Cache(format!("{url}: {e}")))?;
        let redis = ConnectionManager::new(client)
            .await
            .map_err(|e| StoreError::Cache(e.to_string()))?;
        Ok(Self {
            redis,
            prefix: prefix.into(),
        })
    }

    fn key(&self, set: &str, version: u32, entity: &str) -> String {
        format!("{}feature:{set}:{version}:{entity}", self.prefix)
    }
}

#[async_trait]
impl OnlineFeatures for RedisOnlineFeatures {
    async fn put(&self, rows: &[FeatureRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One pipeline of EVALs: a round trip for the batch, each put atomic on the server.
        let mut pipe = redis::pipe();
        for row in rows {
            let encoded = serde_json::to_string(row).expect("feature rows serialise");
            pipe.cmd("EVAL")
                .arg(PUT_IF_NEWER)
                .arg(1)
                .arg(self.key(&row.set, row.version, &row.entity_id))
                .arg(to_ms(row.event_time))
                .arg(encoded)
                .ignore();
        }
        let mut redis = self.redis.clone();
        pipe.query_async::<()>(&mut redis)
            .await
            .map_err(|e| StoreError::Cache(e.to_string()))
    }

    async fn get(
        &self,
        set: &str,
        version: u32,
        entities: &[String],
    ) -> Result<Vec<Option<FeatureRow>>> {
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        for entity in entities {
            pipe.hget(self.key(set, version, entity), "row");
        }
        let encoded: Vec<Option<String>> = pipe
            .query_async(&mut redis)
            .await
            .map_err(|e| StoreError::Cache(e.to_string()))?;
        Ok(encoded
            .into_iter()
            .map(|row| {
                row.and_then(|text| match serde_json::from_str(&text) {
                    Ok(row) => Some(row),
                    Err(error) => {
                        warn!(%error, set, "skipped an online feature row this build cannot read");
                        None
                    }
                })
            })
            .collect())
    }
}
