//! The recommender's error type.

use std::path::PathBuf;

use finpulse_core::error::{ErrorCode, ServiceError};

/// What can go wrong in the recommender.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecommendError {
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A model file could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of an interactions file is malformed.
    #[error("{path}:{line}: {reason}")]
    BadRow {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A model's parameters or data cannot be used.
    #[error("invalid model input: {0}")]
    InvalidInput(String),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No model has been trained yet.
    #[error("the recommender has no trained model yet")]
    NotReady,
    /// The store failed.
    #[error("store failed: {0}")]
    Store(#[from] finpulse_store::StoreError),
    /// The log or the fan-out failed.
    #[error("event bus failed: {0}")]
    Bus(#[from] finpulse_bus::StreamError),
    /// A stored model cannot be read by this build (another format, or damaged bytes).
    #[error("stored model {version}: {reason}")]
    StoredModel {
        /// The version read.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A linear-algebra step failed (for example a matrix that is not positive definite).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

impl ServiceError for RecommendError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::NotReady => ErrorCode::Unavailable,
            Self::Bus(e) => e.error_code(),
            Self::Read { .. }
            | Self::Write { .. }
            | Self::BadRow { .. }
            | Self::Store(_)
            | Self::StoredModel { .. }
            | Self::Numerical(_) => ErrorCode::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Self::Bus(e) => e.client_message(),
            other => other.to_string(),
        }
    }
}
