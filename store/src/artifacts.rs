//! Trained models on the SQL engines (`migrations/*/0009_model_artifacts.sql`): one row per kept
//! version with its bytes, and one row per model name naming the version served.
//!
//! Publishing a version and serving it is one transaction, so a replica polling
//! `model_serving` never finds a version whose bytes are not there yet; pruning never forgets
//! the version served, so a rollback target chosen by an operator stays loadable.

use async_trait::async_trait;
use finpulse_core::artifact::ModelArtifact;
use sqlx::Row;
use tracing::instrument;

use crate::sql::{from_ms, to_ms};
use crate::{ModelArtifacts, Result, SqlStore, StoreError};

const SERVE: &str = "INSERT INTO model_serving (name, version, updated_ms)
     SELECT name, version, $3 FROM model_artifact WHERE name = $1 AND version = $2
     ON CONFLICT (name) DO UPDATE SET version = excluded.version, updated_ms = excluded.updated_ms";

#[async_trait]
impl ModelArtifacts for SqlStore {
    #[instrument(skip_all, fields(model = %artifact.name, version = %artifact.version, bytes = bytes.len()), err)]
    async fn publish_model(
        &self,
        artifact: &ModelArtifact,
        bytes: &[u8],
        serve: bool,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let kept = sqlx::query(
            "INSERT INTO model_artifact (name, version, created_ms, size_bytes, summary, data)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&artifact.name)
        .bind(&artifact.version)
        .bind(to_ms(artifact.created_at))
        .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
        .bind(artifact.summary.to_string())
        .bind(bytes.to_vec())
        .execute(&mut *tx)
        .await?;
        if kept.rows_affected() != 1 {
            return Ok(false);
        }
        if serve {
            sqlx::query(SERVE)
                .bind(&artifact.name)
                .bind(&artifact.version)
                .bind(to_ms(chrono::Utc::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelArtifact>> {
        let rows = sqlx::query(
            "SELECT name, version, created_ms, size_bytes, summary FROM model_artifact
             WHERE name = $1 ORDER BY created_ms, version",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let mut versions = Vec::with_capacity(rows.len());
        for row in rows {
            let summary: String = row.try_get("summary")?;
            let size: i64 = row.try_get("size_bytes")?;
            versions.push(ModelArtifact {
                name: row.try_get("name")?,
                version: row.try_get("version")?,
                created_at: from_ms(row.try_get("created_ms")?),
                size_bytes: u64::try_from(size).unwrap_or(0),
                summary: serde_json::from_str(&summary).map_err(|source| StoreError::Decode {
                    what: "model summary",
                    source,
                })?,
            });
        }
        Ok(versions)
    }

    #[instrument(skip(self), err)]
    async fn model_bytes(&self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT data FROM model_artifact WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("data")?),
            None => None,
        })
    }

    async fn serving_model(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT version FROM model_serving WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("version")?),
            None => None,
        })
    }

    #[instrument(skip(self), err)]
    async fn serve_model(&self, name: &str, version: &str) -> Result<bool> {
        let done = sqlx::query(SERVE)
            .bind(name)
            .bind(version)
            .bind(to_ms(chrono::Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip(self), err)]
    async fn prune_models(&self, name: &str, keep: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM model_artifact WHERE name = $1
               AND version NOT IN (SELECT version FROM model_serving WHERE name = $2)
               AND version NOT IN (
                   SELECT version FROM model_artifact WHERE name = $3
                   ORDER BY created_ms DESC, version DESC LIMIT $4)",
        )
        .bind(name)
        .bind(name)
        .bind(name)
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
