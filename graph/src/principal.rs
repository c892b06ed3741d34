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

/// Who a request's work is charged to: the signed-in user, else the client's address. Model
/// budgets and the models' fair queues are kept per caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller(pub String);

impl Caller {
    /// The caller of a request by `principal` from `address`.
    pub fn of(principal: &Principal, address: Option<std::net::IpAddr>) -> Self {
        match (&principal.subject, address) {
            (Some(user), _) => Self(format!("user:{user}")),
            (None, Some(address)) => Self(format!("ip:{address}")),
            (None, None) => Self("anonymous".into()),
        }
    }
}
