//! Tokens for the load tools: development tokens from an embedded server's `/dev/token`, or
//! HS256 tokens signed with the replicas' secret (distributed runs have no development tokens).

use anyhow::Context;
use serde_json::{Value, json};

/// A token as the gateway mints it (issuer and audience `finpulse`, one hour).
fn signed_token(secret: &str, user: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": user, "iss": "finpulse", "aud": "finpulse", "iat": now, "exp": now + 3600});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// A token for `user`: signed with `secret` when given, else a development token from the
/// embedded server at `server`.
pub async fn token(
    http: &reqwest::Client,
    server: &str,
    secret: Option<&str>,
    user: &str,
) -> anyhow::Result<String> {
    if let Some(secret) = secret {
        return signed_token(secret, user);
    }
    let body: Value = http
        .post(format!("http://{server}/dev/token"))
        .json(&json!({"user": user, "ttlSecs": 3600}))
        .send()
        .await?
        .error_for_status()
        .context("POST /dev/token (run the embedded default)")?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the answer")
}
