//! Errors as clients see them: a message and a SCREAMING_SNAKE `extensions.code`.

use async_graphql::ErrorExtensions;
use finpulse_core::error::{Chain, ErrorCode, ServiceError};
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

/// Any domain, store, bus or model error becomes the API error its own crate says it is
/// ([`ServiceError::error_code`]); this is the only place the codes are turned into variants.
/// Internal ones keep their source, so the chain is logged below.
impl<E: ServiceError> From<E> for ApiError {
    fn from(error: E) -> Self {
        match error.error_code() {
            ErrorCode::BadUserInput => Self::BadUserInput(error.client_message()),
            ErrorCode::NotFound => Self::NotFound(error.client_message()),
            ErrorCode::Forbidden => Self::Forbidden(error.client_message()),
            ErrorCode::Unavailable => Self::Unavailable(error.client_message()),
            // `ErrorCode` is non-exhaustive: a class added later is opaque until mapped here.
            _ => Self::Internal(Box::new(error)),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(source) = &e {
            // Log the whole chain here; the client only gets the opaque message.
            error!(error = %Chain(source.as_ref()), "resolver failed");
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

/// The error a live subscription yields when it missed results it cannot replay.
///
/// `missed` is 0 when the number is unknown: the replica lost its fan-out connection for a
/// while and anything published meanwhile did not reach it.
pub(crate) fn lagged_error(missed: u64, what: &str) -> async_graphql::Error {
    let message = if missed == 0 {
        format!("{what} may have been missed while this server was cut off from the fan-out")
    } else {
        format!("{missed} {what} were missed because this subscription fell behind")
    };
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", "LAGGED");
        ext.set("missed", missed);
    })
}

#[cfg(test)]
mod tests {
    use finpulse_bus::StreamError;
    use finpulse_market::watchlist::WatchlistError;
    use finpulse_store::StoreError;
    use finpulse_support::SupportError;

    use super::*;

    fn seen(error: impl Into<ApiError>) -> (&'static str, String) {
        let error = error.into();
        (error.code(), error.message())
    }

    #[test]
    fn a_domain_error_reaches_clients_with_the_code_its_crate_gives_it() {
        assert_eq!(
            seen(SupportError::NotFound("no such conversation".into())),
            ("NOT_FOUND", "no such conversation".into())
        );
        assert_eq!(
            seen(WatchlistError::Full { max: 200 }),
            (
                "BAD_USER_INPUT",
                "a watchlist holds at most 200 symbols".into()
            )
        );
    }

    #[test]
    fn a_full_fan_out_says_retry_later_through_any_domain() {
        let expected = (
            "UNAVAILABLE",
            "this server follows as many channels as it may; retry later".to_string(),
        );
        assert_eq!(seen(StreamError::TooManyChannels(10)), expected);
        assert_eq!(
            seen(WatchlistError::FanOut(StreamError::TooManyChannels(10))),
            expected
        );
        assert_eq!(
            seen(SupportError::Bus(StreamError::TooManyChannels(10))),
            expected
        );
    }

    #[test]
    fn a_store_failure_is_opaque_to_clients_and_keeps_its_cause() {
        let error: ApiError =
            SupportError::Store(StoreError::UnsupportedUrl("mysql://secret@db".into())).into();
        assert_eq!(
            (error.code(), error.message()),
            ("INTERNAL", "internal error".into())
        );
        let ApiError::Internal(source) = &error else {
            panic!("a store failure is internal");
        };
        assert!(
            Chain(source.as_ref())
                .to_string()
                .contains("mysql://secret@db"),
            "the log keeps the cause"
        );
    }
}
