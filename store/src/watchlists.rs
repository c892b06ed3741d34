//! Each user's watchlist on the SQL engines.

use async_trait::async_trait;
use chrono::Utc;
use tracing::instrument;

use crate::{Result, SqlStore, Watchlists};

#[async_trait]
impl Watchlists for SqlStore {
    async fn watchlist(&self, user_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT symbol FROM watchlist WHERE user_id = $1 ORDER BY added_ms, symbol",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    #[instrument(skip(self), err)]
    async fn add_to_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>> {
        sqlx::query(
            "INSERT INTO watchlist (user_id, symbol, added_ms) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, symbol) DO NOTHING",
        )
        .bind(user_id)
        .bind(symbol)
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        self.watchlist(user_id).await
    }

    #[instrument(skip(self), err)]
    async fn remove_from_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>> {
        sqlx::query("DELETE FROM watchlist WHERE user_id = $1 AND symbol = $2")
            .bind(user_id)
            .bind(symbol)
            .execute(&self.pool)
            .await?;
        self.watchlist(user_id).await
    }
}
