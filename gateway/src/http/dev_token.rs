//! `POST /dev/token`: development tokens for the dashboard's user picker.
//!
//! Only while the embedded default is in force (role `all`, the in-process log and fan-out,
//! tokens signed by the generated secret; see [`crate::config::Config::dev_tokens_allowed`]):
//! anyone who can reach such a server may act as any user, which is the point of a demo on
//! one's own machine and never acceptable anywhere else. In gateway and worker roles the route
//! does not exist. A real sign-in (OAuth2/OIDC) replaces this behind the same contract: the
//! dashboard asks for a token, puts it in `Authorization` and `connection_init`, and renews it
//! before `expiresAt`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use finpulse_graph::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Grant;
use crate::state::AppState;

/// Lifetime of a development token unless asked otherwise: short, so renewal is exercised.
const DEFAULT_TTL_SECS: u64 = 15 * 60;
/// Shortest and longest lifetime a client may ask for.
const TTL_RANGE: std::ops::RangeInclusive<u64> = 10..=24 * 3600;

/// What the picker asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequest {
    /// The user id.
    user: String,
    /// Roles (`customer`, `agent`, `admin`); default `customer`.
    #[serde(default)]
    roles: Vec<String>,
    /// Lifetime in seconds; default 15 minutes.
    ttl_secs: Option<u64>,
}

/// The token and when it must be renewed by.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    token: String,
    user: String,
    roles: Vec<&'static str>,
    expires_at: chrono::DateTime<Utc>,
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message, "code": "BAD_USER_INPUT" })),
    )
        .into_response()
}

/// Mints a development token for the user the picker chose.
pub async fn mint(
    State(state): State<AppState>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(rejection.body_text()),
    };
    let user = request.user.trim();
    let mut roles = Vec::new();
    for name in &request.roles {
        match Role::parse(name) {
            Some(role) if !roles.contains(&role) => roles.push(role),
            Some(_) => {}
            None => {
                return bad_request(format!(
                    "unknown role `{name}`: expected customer, agent or admin"
                ));
            }
        }
    }
    if roles.is_empty() {
        roles.push(Role::Customer);
    }
    let ttl = request.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !TTL_RANGE.contains(&ttl) {
        return bad_request(format!(
            "ttlSecs must be {} to {}, got {ttl}",
            TTL_RANGE.start(),
            TTL_RANGE.end()
        ));
    }
    let grant = Grant {
        roles: roles.clone(),
        scopes: Vec::new(),
    };
    match state.auth.mint_with(user, Some(ttl), &grant) {
        Ok(token) => Json(TokenResponse {
            token,
            user: user.to_owned(),
            roles: roles.iter().map(|r| r.as_str()).collect(),
            expires_at: Utc::now() + Duration::seconds(ttl as i64),
        })
        .into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}
