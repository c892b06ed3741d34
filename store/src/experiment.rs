//! The recommender's experiments on the SQL engines (`migrations/*/0004_experiments.sql`):
//! definitions kept whole as JSON, one row per list shown under an experiment, with what came
//! of it as flags on that row.
//!
//! An outcome is a flag, not a count: a list opened twice is one clicked list, so click and
//! conversion rates are proportions of lists and their intervals are binomial.

use async_trait::async_trait;
use finpulse_core::recommend::experiment::{
    Counts, Experiment, Impression, Outcome, TrafficBucket,
};
use sqlx::Row;
use tracing::{instrument, warn};

use crate::sql::{from_ms, placeholders, to_ms};
use crate::{ExperimentData, Result, SqlStore, StoreError};

fn encode(experiment: &Experiment) -> String {
    serde_json::to_string(experiment).expect("experiments serialise")
}

#[async_trait]
impl ExperimentData for SqlStore {
    #[instrument(skip_all, fields(experiment = %experiment.id), err)]
    async fn create_experiment(&self, experiment: &Experiment) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO rec_experiment (id, data, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&experiment.id)
        .bind(encode(experiment))
        .bind(to_ms(experiment.created_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip_all, fields(experiment = %experiment.id), err)]
    async fn update_experiment(&self, experiment: &Experiment) -> Result<bool> {
        let done = sqlx::query("UPDATE rec_experiment SET data = $2 WHERE id = $1")
            .bind(&experiment.id)
            .bind(encode(experiment))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn experiments(&self) -> Result<Vec<Experiment>> {
        let rows = sqlx::query("SELECT data FROM rec_experiment ORDER BY created_ms DESC, id")
            .fetch_all(&self.pool)
            .await?;
        let mut experiments = Vec::with_capacity(rows.len());
        for row in rows {
            let data: String = row.try_get("data")?;
            match serde_json::from_str(&data) {
                Ok(experiment) => experiments.push(experiment),
                Err(error) => warn!(%error, "skipped an experiment this build cannot read"),
            }
        }
        Ok(experiments)
    }

    #[instrument(skip_all, fields(impressions = impressions.len()), err)]
    async fn record_impressions(&self, impressions: &[Impression]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for impression in impressions {
            let items = serde_json::to_string(&impression.items).expect("ids serialise");
            sqlx::query(
                "INSERT INTO rec_impression (recommendation_id, experiment_id, variant, user_id,
                     items, at_ms, expires_ms, clicked, converted, dismissed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0)
                 ON CONFLICT (recommendation_id) DO NOTHING",
            )
            .bind(&impression.recommendation_id)
            .bind(&impression.experiment)
            .bind(&impression.variant)
            .bind(&impression.user)
            .bind(items)
            .bind(to_ms(impression.at))
            .bind(to_ms(impression.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn impressions(&self, recommendation_ids: &[String]) -> Result<Vec<Impression>> {
        if recommendation_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT recommendation_id, experiment_id, variant, user_id, items, at_ms, expires_ms
             FROM rec_impression WHERE recommendation_id IN ({})",
            placeholders(1, recommendation_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in recommendation_ids {
            query = query.bind(id);
        }
        let mut impressions = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            let items: String = row.try_get("items")?;
            impressions.push(Impression {
                recommendation_id: row.try_get("recommendation_id")?,
                experiment: row.try_get("experiment_id")?,
                variant: row.try_get("variant")?,
                user: row.try_get("user_id")?,
                items: serde_json::from_str(&items).map_err(|source| StoreError::Decode {
                    what: "impression items",
                    source,
                })?,
                at: from_ms(row.try_get("at_ms")?),
                expires_at: from_ms(row.try_get("expires_ms")?),
            });
        }
        Ok(impressions)
    }

    #[instrument(skip_all, err)]
    async fn record_outcomes(&self, outcomes: &[(String, Outcome)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (recommendation_id, outcome) in outcomes {
            // The column is chosen from a closed set, never from input.
            let column = match outcome {
                Outcome::Click => "clicked",
                Outcome::Conversion => "converted",
                Outcome::Dismissal => "dismissed",
            };
            sqlx::query(&format!(
                "UPDATE rec_impression SET {column} = 1 WHERE recommendation_id = $1"
            ))
            .bind(recommendation_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn experiment_counts(&self, experiment: &str) -> Result<Vec<(String, Counts)>> {
        // PostgreSQL sums BIGINTs as NUMERIC, which sqlx's Any driver cannot read: cast back.
        let rows = sqlx::query(
            "SELECT variant, COUNT(*) AS shown, CAST(SUM(clicked) AS BIGINT) AS clicks,
                    CAST(SUM(converted) AS BIGINT) AS conversions,
                    CAST(SUM(dismissed) AS BIGINT) AS dismissals
             FROM rec_impression WHERE experiment_id = $1 GROUP BY variant ORDER BY variant",
        )
        .bind(experiment)
        .fetch_all(&self.pool)
        .await?;
        let count = |row: &sqlx::any::AnyRow, column: &str| -> Result<u64> {
            Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
        };
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("variant")?,
                    Counts {
                        impressions: count(row, "shown")?,
                        clicks: count(row, "clicks")?,
                        conversions: count(row, "conversions")?,
                        dismissals: count(row, "dismissals")?,
                    },
                ))
            })
            .collect()
    }

    async fn experiment_traffic(
        &self,
        experiment: &str,
        bucket_secs: u64,
    ) -> Result<Vec<TrafficBucket>> {
        let bucket_ms = (bucket_secs.clamp(1, 86_400 * 365) * 1_000) as i64;
        let rows = sqlx::query(
            "SELECT (at_ms / $2) AS bucket, variant, COUNT(*) AS shown FROM rec_impression
             WHERE experiment_id = $1 GROUP BY bucket, variant ORDER BY bucket, variant",
        )
        .bind(experiment)
        .bind(bucket_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TrafficBucket {
                    from: from_ms(row.try_get::<i64, _>("bucket")? * bucket_ms),
                    variant: row.try_get("variant")?,
                    impressions: row.try_get::<i64, _>("shown")?.max(0) as u64,
                })
            })
            .collect()
    }
}
