//! Who a request comes from, found once per request from its `Authorization` header, for the
//! rate limits, GraphQL over HTTP and the WebSocket upgrade alike. A socket's `connection_init`
//! token goes through the same [`Identity::of`].

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use finpulse_graph::Principal;

use crate::auth::Authenticator;
use crate::state::AppState;

/// The verified identity of a request, left in its extensions by [`identify`].
#[derive(Debug, Clone)]
pub enum Identity {
    /// No `Authorization` header.
    Anonymous,
    /// A valid token.
    User(Principal),
    /// A header that is not a valid token; the message says why.
    Refused(String),
}

impl Identity {
    /// The identity an `Authorization` value (`Bearer <token>`) stands for; `Err(())` for a
    /// value that is not text. The one path from a header or a `connection_init` payload to a
    /// principal.
    pub async fn of(auth: &Authenticator, authorization: Option<Result<&str, ()>>) -> Self {
        match authorization {
            None => Self::Anonymous,
            Some(Ok(value)) => match auth.verify_header_any(value).await {
                Ok(principal) => Self::User(principal),
                Err(e) => Self::Refused(e.to_string()),
            },
            Some(Err(())) => Self::Refused("authorization must be text".into()),
        }
    }

    /// The principal of an accepted identity.
    pub fn principal(&self) -> Option<Principal> {
        match self {
            Self::Anonymous => Some(Principal::anonymous()),
            Self::User(principal) => Some(principal.clone()),
            Self::Refused(_) => None,
        }
    }

    /// The user id when signed in.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::User(principal) => principal.subject.as_deref(),
            _ => None,
        }
    }
}

/// Verifies the `Authorization` header and records the [`Identity`].
pub async fn identify(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| ()));
    let identity = Identity::of(&app.auth, authorization).await;
    request.extensions_mut().insert(identity);
    next.run(request).await
}
