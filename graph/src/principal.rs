//! Who is asking: set by the gateway from a verified token, read by resolvers.

use chrono::{DateTime, Utc};

use crate::error::ApiError;

/// The verified identity behind a request or a socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// The user id (`sub` claim); `None` for anonymous access.
    pub subject: Option<String>,
    /// When the credential stops being valid.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// Somebody without a token: public market data only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A signed-in user.
    pub fn user(subject: impl Into<String>, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            subject: Some(subject.into()),
            expires_at,
        }
    }

    /// The user id, or `UNAUTHENTICATED`.
    pub fn require_user(&self) -> Result<&str, ApiError> {
        self.subject.as_deref().ok_or(ApiError::Unauthenticated)
    }
}
