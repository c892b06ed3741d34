//! `POST /dev/token`: development tokens for the dashboard's user picker; `GET /dev/token` says
//! which roles it hands out.
//!
//! Only while the embedded default is in force on a loopback address (role `all`, the in-process
//! log and fan-out, tokens signed by the generated secret; see
//! [`crate::config::Config::dev_tokens`]): anyone who can reach such a server may act as any
//! user, which is the point of a demo on one's own machine and never acceptable anywhere else.
//! Elsewhere the route does not exist (404). Even on loopback:
//! - the `admin` role only with `auth.dev_tokens = "admin"`;
//! - no CORS: the route sits outside the CORS layer, and a request whose `Origin` is not this
//!   server's own is refused, so no other page, even with `cors.allowed_origins = ["*"]`, can
//!   mint one;
//! - a `Host` that is not a loopback name is refused, so a page on a domain that resolves to
//!   127.0.0.1 (DNS rebinding) cannot either.
//!
//! A real sign-in (OAuth2/OIDC) replaces this behind the same contract: the dashboard asks for
//! a token, puts it in `Authorization` and `connection_init`, and renews it before `expiresAt`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use finpulse_graph::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;

use crate::auth::Grant;
use crate::config::DevTokens;
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

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({ "error": message, "code": code }))).into_response()
}

fn bad_request(message: String) -> Response {
    refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
}

/// True for `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || port.starts_with(':') => inside,
            _ => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a request may not touch development tokens even on loopback: another site's page
/// (`Origin` not this server's own), or a `Host` that is not a loopback name.
fn foreign(headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return Some(format!(
            "development tokens are served to loopback hosts only, not `{host}`"
        ));
    }
    let origin = headers.get(header::ORIGIN)?;
    let own = [format!("http://{host}"), format!("https://{host}")];
    match origin.to_str() {
        Ok(origin) if own.iter().any(|o| o.eq_ignore_ascii_case(origin)) => None,
        _ => Some("development tokens are not served to other origins".into()),
    }
}

/// Refuses requests from other sites' pages and non-loopback hosts before either handler.
pub async fn loopback_only(request: Request, next: Next) -> Response {
    match foreign(request.headers()) {
        Some(why) => refusal(StatusCode::FORBIDDEN, "FORBIDDEN", why),
        None => next.run(request).await,
    }
}

/// What the picker may offer.
#[derive(Debug, Serialize)]
struct Offer {
    roles: Vec<&'static str>,
}

/// The roles a development token may carry here: the picker shows the operator only when
/// `auth.dev_tokens = "admin"`.
pub async fn offer(State(state): State<AppState>) -> Response {
    let offered = state.dev_tokens.unwrap_or(DevTokens::Off);
    let roles = [Role::Customer, Role::Agent, Role::Admin]
        .into_iter()
        .filter(|role| offered.grants(*role))
        .map(Role::as_str)
        .collect();
    Json(Offer { roles }).into_response()
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
    let offered = state.dev_tokens.unwrap_or(DevTokens::Off);
    if let Some(role) = roles.iter().find(|role| !offered.grants(**role)) {
        return refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!(
                "development tokens with the `{}` role need auth.dev_tokens = \"admin\"",
                role.as_str()
            ),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn loopback_hosts_are_told_from_others() {
        for host in [
            "localhost",
            "LOCALHOST:8000",
            "127.0.0.1",
            "127.0.0.2:9",
            "[::1]:8000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "10.0.0.1:8000",
            "[::1]x",
            "[2001:db8::1]:80",
            "0.0.0.0:8000",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_this_servers_own_pages_may_ask() {
        assert_eq!(foreign(&headers("127.0.0.1:8000", None)), None);
        assert_eq!(
            foreign(&headers("127.0.0.1:8000", Some("http://127.0.0.1:8000"))),
            None
        );
        for (host, origin) in [
            ("127.0.0.1:8000", Some("http://127.0.0.1:3000")),
            ("127.0.0.1:8000", Some("https://evil.example")),
            ("127.0.0.1:8000", Some("null")),
            (
                "rebound.evil.example:8000",
                Some("http://rebound.evil.example:8000"),
            ),
            ("rebound.evil.example:8000", None),
        ] {
            assert!(
                foreign(&headers(host, origin)).is_some(),
                "{host} {origin:?}"
            );
        }
    }
}
