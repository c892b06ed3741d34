//! The one error type of the store crate.

/// What can go wrong in a repository call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or rejected the statement (the cause is the source).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed to apply.
    #[error("failed to apply migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (for example corrupted JSON).
    #[error("failed to decode stored {what}")]
    Decode {
        /// Which value.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The Redis cache could not be set up.
    #[error("cache error: {0}")]
    Cache(String),
    /// The connection string names an engine this build does not know.
    #[error("unsupported database url `{0}`: expected sqlite: or postgres://")]
    UnsupportedUrl(String),
}

/// Every store failure is the server's: a client cannot fix it by changing the request.
impl finpulse_core::error::ServiceError for StoreError {
    fn error_code(&self) -> finpulse_core::error::ErrorCode {
        finpulse_core::error::ErrorCode::Internal
    }
}
