//! The support domain's errors.

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
    Store(String),
    /// The event log or the fan-out failed.
    #[error("event bus failed: {0}")]
    Bus(String),
}
