//! The store on a SQL engine: SQLite (the embedded default) or PostgreSQL, chosen by the
//! connection string. One implementation serves both through sqlx's `Any` driver: the
//! statements use only SQL both engines speak (`$N` parameters, `ON CONFLICT` upserts, epoch
//! millisecond integers), and each engine has its own migrations under `migrations/`.
//!
//! This file holds the connection, the migrations and the helpers every repository shares
//! (time as epoch milliseconds, `$N` lists, JSON rows); each concern's statements are in its
//! own module (`market`, `watchlists`, `processors`, `recommend`, `support`, …).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use tracing::warn;

use crate::{Health, Result, StoreError};

/// The SQL engines the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: a file (or memory) in this process.
    Sqlite,
    /// PostgreSQL: a server shared by every replica.
    Postgres,
}

impl Engine {
    /// The engine a connection string names.
    pub fn of(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// [`Store`] on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    engine: Engine,
}

impl SqlStore {
    /// Connects to `url`: `sqlite:PATH` (created if missing), `sqlite::memory:`, or
    /// `postgres://user@host:port/db`.
    ///
    /// Migrations are not applied here; call [`SqlStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let engine = Engine::of(url)?;
        let (url, max_connections) = match engine {
            // An in-memory database exists per connection, so it must be a pool of one.
            Engine::Sqlite if url.contains(":memory:") => (url.to_owned(), 1),
            Engine::Sqlite if url.contains('?') => (url.to_owned(), 8),
            Engine::Sqlite => (format!("{url}?mode=rwc"), 8),
            Engine::Postgres => (url.to_owned(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL: readers never wait for the writer; NORMAL sync is durable at
                        // every checkpoint and fast; a busy writer is waited for, not an error.
                        connection
                            .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self { pool, engine })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Applies the engine's migrations (`migrations/sqlite` or `migrations/postgres`).
    pub async fn migrate(&self) -> Result<()> {
        match self.engine {
            Engine::Sqlite => {
                sqlx::migrate!("../migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Engine::Postgres => {
                sqlx::migrate!("../migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }
}

/// The `data` column of each row, read as JSON; a row this build cannot read (written by a
/// newer release) is left out with a warning naming `what`.
pub(crate) fn decode_all<T: serde::de::DeserializeOwned>(
    rows: Vec<AnyRow>,
    what: &'static str,
) -> Result<Vec<T>> {
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let data: String = row.try_get("data")?;
        match serde_json::from_str(&data) {
            Ok(value) => values.push(value),
            Err(error) => warn!(what, %error, "skipped a row this build cannot read"),
        }
    }
    Ok(values)
}

pub(crate) fn to_ms(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    // Out-of-range values cannot come from `to_ms`; clamp rather than fail on a corrupt row.
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
