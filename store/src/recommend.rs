//! The recommender's repository on the SQL engines: catalogue items, customer profiles and
//! interactions (`migrations/*/0003_recommend.sql`).
//!
//! Items and profiles are stored whole as JSON in the shape of their `finpulse-core` types; a
//! row this build cannot read (written by a newer release) is left out with a warning, like an
//! insight of an unknown kind.

use async_trait::async_trait;
use chrono::Utc;
use finpulse_core::recommend::{Interaction, InteractionKind, Item, ItemKind, UserProfile};
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::{instrument, warn};

use crate::sql::{decode_all, from_ms, to_ms};
use crate::{RecommendData, Result, SqlStore};

fn wire_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => unreachable!("unit enums serialise as strings"),
    }
}

fn parse_name<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

fn interactions_from(rows: Vec<AnyRow>) -> Result<Vec<Interaction>> {
    let mut interactions = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let Some(kind) = parse_name::<InteractionKind>(&kind) else {
            warn!(%kind, "skipped an interaction of an unknown kind");
            continue;
        };
        let rating: f64 = row.try_get("rating")?;
        interactions.push(Interaction {
            user: row.try_get("user_id")?,
            item: row.try_get("item_id")?,
            kind,
            rating: (rating > 0.0).then_some(rating as f32),
            recommendation_id: row.try_get("recommendation_id")?,
            at: from_ms(row.try_get("at_ms")?),
        });
    }
    Ok(interactions)
}

#[async_trait]
impl RecommendData for SqlStore {
    #[instrument(skip_all, fields(items = items.len()), err)]
    async fn upsert_items(&self, items: &[Item]) -> Result<()> {
        let now = Utc::now().timestamp_millis();
        let mut tx = self.pool.begin().await?;
        for item in items {
            let data = serde_json::to_string(item).expect("items serialise");
            sqlx::query(
                "INSERT INTO rec_item (id, kind, data, updated_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, data = excluded.data,
                 updated_ms = excluded.updated_ms",
            )
            .bind(&item.id)
            .bind(wire_name(&item.kind))
            .bind(data)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn item(&self, id: &str) -> Result<Option<Item>> {
        let rows = sqlx::query("SELECT data FROM rec_item WHERE id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(decode_all(rows, "item")?.pop())
    }

    async fn items(
        &self,
        kinds: &[ItemKind],
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Item>> {
        let kind_names: Vec<String> = kinds.iter().map(wire_name).collect();
        let mut sql = String::from("SELECT data FROM rec_item WHERE id > $1");
        if !kind_names.is_empty() {
            sql.push_str(&format!(
                " AND kind IN ({})",
                crate::sql::placeholders(2, kind_names.len())
            ));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", limit.min(10_000)));
        let mut query = sqlx::query(&sql).bind(after.unwrap_or(""));
        for name in &kind_names {
            query = query.bind(name);
        }
        decode_all(query.fetch_all(&self.pool).await?, "item")
    }

    #[instrument(skip_all, fields(users = profiles.len()), err)]
    async fn upsert_user_profiles(&self, profiles: &[UserProfile]) -> Result<()> {
        let now = Utc::now().timestamp_millis();
        let mut tx = self.pool.begin().await?;
        for profile in profiles {
            let data = serde_json::to_string(profile).expect("profiles serialise");
            sqlx::query(
                "INSERT INTO rec_user (id, data, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_ms = excluded.updated_ms",
            )
            .bind(&profile.id)
            .bind(data)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_profile(&self, id: &str) -> Result<Option<UserProfile>> {
        let rows = sqlx::query("SELECT data FROM rec_user WHERE id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(decode_all(rows, "user profile")?.pop())
    }

    async fn user_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<UserProfile>> {
        let sql = format!(
            "SELECT data FROM rec_user WHERE id > $1 ORDER BY id LIMIT {}",
            limit.min(10_000)
        );
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        decode_all(rows, "user profile")
    }

    #[instrument(skip_all, fields(interactions = interactions.len()), err)]
    async fn record_interactions(&self, interactions: &[Interaction]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for interaction in interactions {
            sqlx::query(
                "INSERT INTO rec_interaction (user_id, item_id, kind, at_ms, rating, recommendation_id)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, item_id, kind, at_ms) DO NOTHING",
            )
            .bind(&interaction.user)
            .bind(&interaction.item)
            .bind(wire_name(&interaction.kind))
            .bind(to_ms(interaction.at))
            .bind(interaction.rating.map_or(0.0, f64::from))
            .bind(interaction.recommendation_id.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_interactions(&self, user: &str, last: u32) -> Result<Vec<Interaction>> {
        let sql = format!(
            "SELECT user_id, item_id, kind, at_ms, rating, recommendation_id FROM rec_interaction
             WHERE user_id = $1 ORDER BY at_ms DESC, item_id DESC, kind DESC LIMIT {}",
            last.min(100_000)
        );
        let rows = sqlx::query(&sql).bind(user).fetch_all(&self.pool).await?;
        let mut interactions = interactions_from(rows)?;
        interactions.reverse();
        Ok(interactions)
    }

    async fn interactions_page(
        &self,
        after: Option<&Interaction>,
        limit: u32,
    ) -> Result<Vec<Interaction>> {
        // Keyset paging in primary-key order: every row exactly once however the table grows.
        let (user, item, kind, at) = match after {
            Some(last) => (
                last.user.clone(),
                last.item.clone(),
                wire_name(&last.kind),
                to_ms(last.at),
            ),
            None => (String::new(), String::new(), String::new(), i64::MIN),
        };
        let sql = format!(
            "SELECT user_id, item_id, kind, at_ms, rating, recommendation_id FROM rec_interaction
             WHERE (user_id > $1) OR (user_id = $1 AND item_id > $2)
                OR (user_id = $1 AND item_id = $2 AND kind > $3)
                OR (user_id = $1 AND item_id = $2 AND kind = $3 AND at_ms > $4)
             ORDER BY user_id, item_id, kind, at_ms LIMIT {}",
            limit.min(100_000)
        );
        let rows = sqlx::query(&sql)
            .bind(user)
            .bind(item)
            .bind(kind)
            .bind(at)
            .fetch_all(&self.pool)
            .await?;
        interactions_from(rows)
    }
}
