//! `/auth/*`: the dashboard's sign-in through the identity provider ([`crate::auth::sign_in`]).
//!
//! - `GET /auth/login?return=/app/markets` sets the login cookie and sends the browser to the
//!   provider;
//! - `GET /auth/callback` (the provider sends it back here) finishes the sign-in, sets the
//!   session cookie and goes on to `return`;
//! - `POST /auth/token` answers `{token, user, roles, expiresAt}` for the session (401 when
//!   there is none);
//! - `POST /auth/logout` ends it and answers `{logoutUrl}`, the provider's logout page (or null);
//! - `GET /auth/session` answers `{provider, signedIn}`, on every server (`provider: false`
//!   where there is no sign-in through one), so a page learns how to sign in without an error.
//!
//! Served only when `[auth.oidc.login]` is set, outside the CORS layer: the POSTs must come from
//! the dashboard's own origin (the one of `redirect_url`), and the session cookie is
//! `SameSite=Strict`, so no other site's page can obtain a token or sign anyone out.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{error, info};

use crate::auth::sign_in::{LOGIN_TTL, SignIn, SignInError};

const LOGIN_COOKIE: &str = "finpulse_login";
const SESSION_COOKIE: &str = "finpulse_session";
/// Longest `return` path kept.
const MAX_RETURN_BYTES: usize = 512;

/// A cookie's name: `__Secure-` prefixed when it is `Secure`, so a plain-http page of the same
/// site cannot set one in its place.
fn cookie_name(sign_in: &SignIn, base: &str) -> String {
    match sign_in.secure_cookies() {
        true => format!("__Secure-{base}"),
        false => base.to_owned(),
    }
}

fn set_cookie(
    sign_in: &SignIn,
    base: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if sign_in.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
        cookie_name(sign_in, base)
    ))
    .expect("cookie values are base64url")
}

/// The value of cookie `base` in the request.
fn cookie(sign_in: &SignIn, headers: &HeaderMap, base: &str) -> Option<String> {
    let name = cookie_name(sign_in, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({ "error": message, "code": code }))).into_response()
}

/// A page for a sign-in that did not complete (the browser is mid-redirect: JSON would help
/// nobody).
fn failure_page(status: StatusCode, why: &str) -> Response {
    let escaped = why
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed · finpulse</title></head>\
         <body><h1>Sign-in did not complete</h1><p id=\"reason\">{escaped}</p>\
         <p><a href=\"/auth/login\">Try again</a> · <a href=\"/app/\">Back to the dashboard</a></p></body></html>"
    );
    (status, Html(page)).into_response()
}

/// A path on this server to go to after signing in: relative, not `//host` (no open redirect).
fn return_path(wanted: Option<&str>) -> String {
    match wanted {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && path.len() <= MAX_RETURN_BYTES =>
        {
            path.to_owned()
        }
        _ => "/app/".to_owned(),
    }
}

/// `/auth/login`'s query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "return")]
    return_to: Option<String>,
}

/// Sends the browser to the provider.
pub async fn login(
    State(sign_in): State<Arc<SignIn>>,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let wanted = query.ok().and_then(|Query(q)| q.return_to);
    match sign_in.begin(&return_path(wanted.as_deref())).await {
        Ok(start) => {
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, start.authorize_url.as_str())],
            )
                .into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(
                    &sign_in,
                    LOGIN_COOKIE,
                    &start.browser_secret,
                    "/auth/callback",
                    "Lax",
                    LOGIN_TTL.as_secs(),
                ),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            error!(error = %e, "failed to start a sign-in");
            failure_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-in is unavailable right now; try again shortly",
            )
        }
    }
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes the sign-in.
pub async fn callback(
    State(sign_in): State<Arc<SignIn>>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return failure_page(
            StatusCode::BAD_REQUEST,
            "the identity provider's answer is malformed",
        );
    };
    let result = match (&query.error, &query.code, &query.state) {
        (Some(error), _, _) => Err(SignInError::Refused(match &query.error_description {
            Some(description) => format!("{error}: {description}"),
            None => error.clone(),
        })),
        (None, None, _) => Err(SignInError::Malformed("code")),
        (None, _, None) => Err(SignInError::Malformed("state")),
        (None, Some(code), Some(state)) => {
            let browser = cookie(&sign_in, &headers, LOGIN_COOKIE);
            sign_in.finish(code, state, browser.as_deref()).await
        }
    };
    let clear_login = set_cookie(&sign_in, LOGIN_COOKIE, "", "/auth/callback", "Lax", 0);
    let mut response = match result {
        Ok(signed_in) => {
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, signed_in.return_to.as_str())],
            )
                .into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &sign_in,
                    SESSION_COOKIE,
                    &signed_in.session_secret,
                    "/auth",
                    "Strict",
                    sign_in.session_max_age_secs(),
                ),
            );
            response
        }
        Err(SignInError::Store(e)) => {
            error!(error = %e, "failed to keep a sign-in");
            failure_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-in is unavailable right now; try again shortly",
            )
        }
        Err(e) => {
            info!(reason = %e, "a sign-in did not complete");
            failure_page(StatusCode::BAD_REQUEST, &e.to_string())
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_login);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether this server signs in through a provider, and whether this browser is signed in.
pub async fn session(State(sign_in): State<Arc<SignIn>>, headers: HeaderMap) -> Response {
    let signed_in = match cookie(&sign_in, &headers, SESSION_COOKIE) {
        Some(secret) => match sign_in.signed_in(&secret).await {
            Ok(signed_in) => signed_in,
            Err(e) => {
                error!(error = %e, "failed to read a session");
                return refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error".into(),
                );
            }
        },
        None => false,
    };
    let mut response = Json(json!({ "provider": true, "signedIn": signed_in })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /auth/session` on a server without sign-in through a provider.
pub async fn no_provider() -> Response {
    Json(json!({ "provider": false, "signedIn": false })).into_response()
}

/// The session's access token.
pub async fn token(State(sign_in): State<Arc<SignIn>>, headers: HeaderMap) -> Response {
    let Some(secret) = cookie(&sign_in, &headers, SESSION_COOKIE) else {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "not signed in".into(),
        );
    };
    let mut response = match sign_in.token(&secret).await {
        Ok(token) => Json(token).into_response(),
        Err(SignInError::SignedOut) => {
            let mut response = refusal(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "not signed in".into(),
            );
            response.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(&sign_in, SESSION_COOKIE, "", "/auth", "Strict", 0),
            );
            response
        }
        Err(SignInError::Unavailable(why)) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("the identity provider is unavailable: {why}"),
        ),
        Err(e) => {
            error!(error = %e, "failed to hand out the session's token");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error".into(),
            )
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Ends the session.
pub async fn logout(State(sign_in): State<Arc<SignIn>>, headers: HeaderMap) -> Response {
    let logout_url = match cookie(&sign_in, &headers, SESSION_COOKIE) {
        Some(secret) => match sign_in.sign_out(&secret).await {
            Ok(url) => url,
            Err(e) => {
                error!(error = %e, "failed to end a session");
                return refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error".into(),
                );
            }
        },
        None => None,
    };
    let mut response =
        Json(json!({ "logoutUrl": logout_url.map(|u| u.to_string()) })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&sign_in, SESSION_COOKIE, "", "/auth", "Strict", 0),
    );
    response
}

/// Refuses a POST whose `Origin` is not the dashboard's (a GET is a navigation and carries no
/// token out).
pub async fn own_origin(
    State(sign_in): State<Arc<SignIn>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == axum::http::Method::POST {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        if let Some(origin) = origin
            && !origin.eq_ignore_ascii_case(&sign_in.origin())
        {
            return refusal(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "sign-in is not served to other origins".into(),
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn only_paths_on_this_server_are_returned_to() {
        assert_eq!(return_path(Some("/app/markets?x=1")), "/app/markets?x=1");
        for outside in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "app",
            "/a\nb",
        ] {
            assert_eq!(return_path(Some(outside)), "/app/", "{outside:?}");
        }
        assert_eq!(return_path(None), "/app/");
        assert_eq!(return_path(Some(&format!("/{}", "a".repeat(600)))), "/app/");
    }
}
