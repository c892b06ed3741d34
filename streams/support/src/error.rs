//! The support domain's errors.

use finpulse_core::error::{ErrorCode, ServiceError};

/// What can go wrong in the support desk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupportError {
    /// A file, row or request that cannot be used as it is.
    #[error("{0}")]
    InvalidInput(String),
    /// The lexical index failed.
    #[error("search index failed: {0}")]
    Index(String),
    /// The embedding model failed.
    #[error("embedding model failed: {0}")]
    Inference(String),
    /// The caller may read the conversation but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    /// No such conversation, or none the caller may read.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error("store failed: {0}")]
    Store(#[from] finpulse_store::StoreError),
    /// The event log or the fan-out failed.
    #[error("event bus failed: {0}")]
    Bus(#[from] finpulse_bus::StreamError),
}

impl ServiceError for SupportError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            // A fan-out bound stays what it is (retry later) through the desk.
            Self::Bus(e) => e.error_code(),
            Self::Index(_) | Self::Inference(_) | Self::Store(_) => ErrorCode::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Self::Bus(e) => e.client_message(),
            other => other.to_string(),
        }
    }
}
