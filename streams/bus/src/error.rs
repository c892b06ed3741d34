//! The error type of the bus.

/// What can go wrong in the event log, the fan-out or a processor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The named topic does not exist in the log.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The broker or another backend failed (its message says what and why).
    #[error("{0}")]
    Backend(String),
    /// This replica holds as many fan-out channels as it may; a new one is refused.
    #[error("this server already holds its limit of {0} live channels")]
    TooManyChannels(usize),
    /// The log or fan-out was shut down while the call waited.
    #[error("event log is closed")]
    Closed,
    /// An offset was committed for a partition the consumer does not own or beyond its end.
    #[error("invalid commit of offset {offset} on {topic}/{partition}")]
    InvalidCommit {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// A processor's dependency (its store) failed.
    #[error("{what} failed")]
    Dependency {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An event could not be encoded.
    #[error("failed to encode event")]
    Encode(#[source] serde_json::Error),
    /// A source file (market data to replay) could not be read.
    #[error("failed to read {path}: {reason}")]
    Source {
        /// The file.
        path: String,
        /// Why, including the line where it applies.
        reason: String,
    },
}

impl StreamError {
    /// A processor's dependency failed while doing `what`.
    pub fn dependency(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Dependency {
            what,
            source: Box::new(source),
        }
    }
}

impl finpulse_core::error::ServiceError for StreamError {
    fn error_code(&self) -> finpulse_core::error::ErrorCode {
        match self {
            // A bound of this replica, not a fault: another replica, or this one later, serves.
            Self::TooManyChannels(_) => finpulse_core::error::ErrorCode::Unavailable,
            _ => finpulse_core::error::ErrorCode::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            // The bound itself is the operator's business; the client only needs to back off.
            Self::TooManyChannels(_) => {
                "this server follows as many channels as it may; retry later".into()
            }
            other => other.to_string(),
        }
    }
}
