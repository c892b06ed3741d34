//! Test support (feature `test-support`): a fresh PostgreSQL database per test, and a migrated
//! store on either engine.

use sqlx::Connection;

/// A new, empty PostgreSQL database on the server at `FP_TEST_POSTGRES_URL` (default
/// `postgres://127.0.0.1:5432/postgres`), dropped when this guard goes, however the test ends.
#[derive(Debug)]
pub struct FreshPostgres {
    /// Connection string of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl FreshPostgres {
    /// Creates the database.
    ///
    /// # Panics
    /// When the server cannot be reached: tests that need PostgreSQL must not pass without it.
    pub async fn create() -> Self {
        let admin_url = std::env::var("FP_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://127.0.0.1:5432/postgres".into());
        let name = format!("finpulse_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL at FP_TEST_POSTGRES_URL (default 127.0.0.1:5432) is running");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let _ = admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("url with a database");
        Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // The test's runtime may be shutting down: drop on a runtime of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("failed to drop a test database");
        }
    }
}

/// A migrated store on a new SQLite file in a temporary folder (removed with the guard).
pub async fn fresh_sqlite() -> (crate::SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("test.db").display());
    let store = crate::SqlStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    (store, dir)
}

/// A migrated store on a new PostgreSQL database (dropped with the guard).
pub async fn fresh_postgres() -> (crate::SqlStore, FreshPostgres) {
    let database = FreshPostgres::create().await;
    let store = crate::SqlStore::connect(&database.url)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    (store, database)
}

impl crate::SqlStore {
    /// Runs `sql` on the store's own connection, as an intruder with database access would:
    /// for tests that tamper with rows (the audit trail's).
    pub async fn run_raw_sql(&self, sql: &str) -> crate::Result<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }
}
