//! The stand-in provider: discovery, JWKS, a token endpoint that checks PKCE and rotates
//! refresh tokens, and a revocation endpoint that records what it was given.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::oidc::ProviderKey;

pub(super) const CLIENT_ID: &str = "finpulse-dashboard";
pub(super) const CLIENT_SECRET: &str = "stand-in-secret";
pub(super) const REDIRECT: &str = "http://127.0.0.1:8000/auth/callback";
pub(super) const ORIGIN: &str = "http://127.0.0.1:8000";

#[derive(Default)]
pub(super) struct Grants {
    /// code → (PKCE challenge, subject)
    pub(super) codes: HashMap<String, (String, String)>,
    /// Refresh tokens that may be used, each with its subject.
    pub(super) refresh: HashMap<String, String>,
    /// Refresh tokens used once (a second use is theft).
    pub(super) used: Vec<String>,
    pub(super) refreshes: usize,
    pub(super) revoked: Vec<String>,
    pub(super) issued: usize,
    /// Seconds access tokens live.
    pub(super) ttl: i64,
    /// Hand out opaque access tokens instead of JWTs.
    pub(super) opaque: bool,
}

pub(super) struct StandIn {
    pub(super) issuer: String,
    pub(super) grants: Arc<Mutex<Grants>>,
}

impl StandIn {
    /// Lets `code` be exchanged for `subject`'s tokens by whoever holds the verifier of
    /// `challenge` (what the provider does when the user signs in on its page).
    pub(super) fn approve(&self, code: &str, challenge: &str, subject: &str) {
        self.grants
            .lock()
            .codes
            .insert(code.into(), (challenge.into(), subject.into()));
    }
}

pub(super) fn token_error(error: &str) -> axum::response::Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": format!("stand-in says {error}")})),
    )
        .into_response()
}

pub(super) async fn stand_in() -> StandIn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = format!("{base}/idp");
    let key = Arc::new(ProviderKey::new("k1"));
    let grants = Arc::new(Mutex::new(Grants {
        ttl: 300,
        ..Grants::default()
    }));
    let discovery = json!({
        "issuer": issuer, "jwks_uri": format!("{issuer}/certs"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "revocation_endpoint": format!("{issuer}/revoke"),
    });
    let jwks = json!({"keys": [key.jwk_value()]});
    let (token_grants, revoke_grants, token_issuer) =
        (grants.clone(), grants.clone(), issuer.clone());
    let app = axum::Router::new()
        .route(
            "/idp/.well-known/openid-configuration",
            get(move || {
                let discovery = discovery.clone();
                async move { axum::Json(discovery) }
            }),
        )
        .route(
            "/idp/certs",
            get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        )
        .route(
            "/idp/token",
            post(move |headers: HeaderMap, Form(form): Form<HashMap<String, String>>| {
                let (grants, key, issuer) = (token_grants.clone(), key.clone(), token_issuer.clone());
                async move {
                    let basic = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                    );
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&basic) {
                        return token_error("invalid_client");
                    }
                    let mut grants = grants.lock();
                    let subject = match form.get("grant_type").map(String::as_str) {
                        Some("authorization_code") => {
                            let Some((challenge, subject)) =
                                form.get("code").and_then(|c| grants.codes.remove(c))
                            else {
                                return token_error("invalid_grant");
                            };
                            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                            let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD
                                .encode(Sha256::digest(verifier.as_bytes()));
                            if derived != challenge
                                || form.get("redirect_uri").map(String::as_str) != Some(REDIRECT)
                            {
                                return token_error("invalid_grant");
                            }
                            subject
                        }
                        Some("refresh_token") => {
                            grants.refreshes += 1;
                            let presented = form.get("refresh_token").cloned().unwrap_or_default();
                            match grants.refresh.remove(&presented) {
                                Some(subject) => {
                                    grants.used.push(presented);
                                    subject
                                }
                                None => {
                                    // A used one again: theft, every token of the grant ends.
                                    if grants.used.contains(&presented) {
                                        grants.refresh.clear();
                                    }
                                    return token_error("invalid_grant");
                                }
                            }
                        }
                        _ => return token_error("unsupported_grant_type"),
                    };
                    grants.issued += 1;
                    let n = grants.issued;
                    let now = chrono::Utc::now().timestamp();
                    let access = if grants.opaque {
                        format!("opaque-{n}")
                    } else {
                        key.sign(&json!({"iss": issuer, "aud": "finpulse-api", "sub": subject,
                            "iat": now, "exp": now + grants.ttl, "n": n, "roles": ["agent"]}))
                    };
                    let refresh = format!("refresh-{n}");
                    grants.refresh.insert(refresh.clone(), subject);
                    axum::Json(json!({"access_token": access, "token_type": "Bearer",
                        "expires_in": grants.ttl, "refresh_token": refresh, "id_token": format!("id-token-{n}")}))
                    .into_response()
                }
            }),
        )
        .route(
            "/idp/revoke",
            post(move |Form(form): Form<HashMap<String, String>>| {
                let grants = revoke_grants.clone();
                async move {
                    let mut grants = grants.lock();
                    let token = form.get("token").cloned().unwrap_or_default();
                    grants.refresh.remove(&token);
                    grants.revoked.push(token);
                    StatusCode::OK
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    StandIn { issuer, grants }
}
