//! How an error is classed for API clients, said once by the crate that owns the error.
//!
//! Every library crate keeps its own `thiserror` enum; each implements [`ServiceError`] beside
//! it, so the one place that decides "a full watchlist is the caller's fault, a dropped
//! database connection is ours" is the error's own crate (quickwit's `ServiceError` has this
//! shape). The schema turns any `ServiceError` into its GraphQL error without knowing the
//! variants; HTTP handlers can do the same with a status.

/// The class of an error as an API client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request cannot be served as given; the message says why.
    BadUserInput,
    /// What the request names does not exist, or is not the caller's to see.
    NotFound,
    /// The caller may not do this.
    Forbidden,
    /// A dependency is missing or too busy now; retrying later may work.
    Unavailable,
    /// The server failed; the cause is logged, never shown.
    Internal,
}

impl ErrorCode {
    /// The SCREAMING_SNAKE name clients switch on (`extensions.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Forbidden => "FORBIDDEN",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }
}

/// An error that knows its [`ErrorCode`].
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// The class of this error.
    fn error_code(&self) -> ErrorCode;

    /// What a client is told when the code is not [`ErrorCode::Internal`] (an internal error's
    /// message is never shown). The error's own message unless an error wraps another whose
    /// message says more.
    fn client_message(&self) -> String {
        self.to_string()
    }
}

/// An error and every cause under it, for logs: `database error: pool timed out`.
///
/// Wrapping errors here say their cause in their own message too (`store failed: {0}`) so that a
/// log line written with `%error` keeps it; a cause whose message the line already ends with is
/// therefore not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let message = cause.to_string();
            if !line.ends_with(&message) {
                line.push_str(": ");
                line.push_str(&message);
            }
            next = cause.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Leaf;
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("pool timed out")
        }
    }
    impl std::error::Error for Leaf {}

    /// Wraps `Leaf`; `says_cause` is whether its own message repeats it.
    #[derive(Debug)]
    struct Wrapper {
        says_cause: bool,
        leaf: Leaf,
    }
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.says_cause {
                write!(f, "database error: {}", self.leaf)
            } else {
                f.write_str("database error")
            }
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.leaf)
        }
    }

    #[test]
    fn a_chain_names_every_cause_once() {
        for says_cause in [false, true] {
            let error = Wrapper {
                says_cause,
                leaf: Leaf,
            };
            assert_eq!(Chain(&error).to_string(), "database error: pool timed out");
        }
    }

    #[test]
    fn codes_are_the_names_clients_switch_on() {
        let names = [
            ErrorCode::BadUserInput,
            ErrorCode::NotFound,
            ErrorCode::Forbidden,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ]
        .map(ErrorCode::as_str);
        assert_eq!(
            names,
            [
                "BAD_USER_INPUT",
                "NOT_FOUND",
                "FORBIDDEN",
                "UNAVAILABLE",
                "INTERNAL"
            ]
        );
    }
}
