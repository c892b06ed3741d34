//! Errors as clients see them: a message and a SCREAMING_SNAKE `extensions.code`.

use async_graphql::ErrorExtensions;
use tracing::error;

/// An error a resolver returns.
///
/// Deliberately not `Display` (so not `thiserror`): async-graphql converts every `Display` type
/// into an error *without* an `extensions.code`, and that conversion would win over ours.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The operation needs a signed-in user.
    Unauthenticated,
    /// The signed-in user lacks a role or scope the operation needs.
    Forbidden(String),
    /// The input is well-formed GraphQL but not acceptable.
    BadUserInput(String),
    /// What the operation names does not exist (or is not the caller's to see).
    NotFound(String),
    /// A dependency is not there or too busy right now; retrying later may work.
    Unavailable(String),
    /// The caller used up a budget; retrying after the given seconds may work.
    RateLimited {
        /// For people.
        message: String,
        /// Whole seconds until the budget allows the request again.
        retry_after_secs: u64,
    },
    /// The server failed; details are logged, never returned.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The message a client sees.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "authentication required".into(),
            Self::BadUserInput(message)
            | Self::Unavailable(message)
            | Self::Forbidden(message)
            | Self::NotFound(message) => message.clone(),
            Self::RateLimited { message, .. } => message.clone(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<finpulse_store::StoreError> for ApiError {
    fn from(e: finpulse_store::StoreError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<finpulse_bus::StreamError> for ApiError {
    fn from(e: finpulse_bus::StreamError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<finpulse_market::watchlist::WatchlistError> for ApiError {
    fn from(e: finpulse_market::watchlist::WatchlistError) -> Self {
        use finpulse_market::watchlist::WatchlistError;
        match e {
            WatchlistError::Full { .. } => Self::BadUserInput(e.to_string()),
            WatchlistError::FanOut(finpulse_bus::StreamError::TooManyChannels(_)) => {
                Self::Unavailable(TOO_MANY_CHANNELS.into())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// What a client is told when this replica follows as many fan-out channels as it may.
pub(crate) const TOO_MANY_CHANNELS: &str =
    "this server follows as many channels as it may; retry later";

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(source) = &e {
            // Log the whole chain here; the client only gets the opaque message.
            let mut chain = source.to_string();
            let mut next = source.source();
            while let Some(cause) = next {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                next = cause.source();
            }
            error!(error = %chain, "resolver failed");
        }
        let code = e.code();
        let retry_after = match &e {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        async_graphql::Error::new(e.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(seconds) = retry_after {
                ext.set("retryAfterSeconds", seconds);
            }
        })
    }
}

/// Result type of resolvers.
pub type ApiResult<T> = Result<T, async_graphql::Error>;
