//! Identity: minting and verifying JWTs.
//!
//! Embedded mode signs with HS256 and a secret generated once into the data folder, so tokens
//! from `finpulse token` keep working across restarts. Deployments behind an identity provider
//! configure `[auth.oidc]` ([`oidc`]): its tokens, told apart by their `iss`, are verified with
//! the provider's published keys, while finpulse's own (`iss = auth.issuer`) still verify with
//! the secret, each path with its own algorithms. `auth.jwks_path` (a JWKS file, RS256) remains
//! for providers without discovery. Either way `iss`, `aud` and `exp` are checked, and a
//! verified token becomes a [`Principal`].

pub mod oidc;
pub mod sign_in;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use finpulse_graph::{Principal, Role};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// Longest user id a token may carry.
pub const MAX_SUBJECT_BYTES: usize = 256;
/// Longest lifetime of a minted token: one year.
pub const MAX_TTL_SECS: u64 = 366 * 24 * 3600;
/// Shortest HS256 secret accepted from configuration (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed, badly signed, expired or for someone else.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The `Authorization` value is not `Bearer <token>`.
    #[error("authorization must be `Bearer <token>`")]
    BadScheme,
    /// The verifier could not be set up.
    #[error("failed to set up token verification: {0}")]
    Setup(String),
    /// This deployment verifies third-party tokens and cannot mint its own.
    #[error("tokens are issued by the identity provider when auth.jwks_path is set")]
    CannotMint,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
    /// Roles granted (`customer`, `agent`, `admin`); absent means `customer`. Names we do not
    /// know grant nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    /// OAuth2 scopes, space-separated; absent means not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// What a minted token grants besides its user.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Roles; empty grants `customer`.
    pub roles: Vec<Role>,
    /// Scopes the token is limited to; empty limits nothing.
    pub scopes: Vec<String>,
}

enum Keys {
    Hs256 {
        encoding: EncodingKey,
        decoding: DecodingKey,
    },
    Rs256 {
        keys: Vec<(Option<String>, DecodingKey)>,
    },
}

/// Mints and verifies tokens.
pub struct Authenticator {
    keys: Keys,
    /// The identity provider's verifier, when `[auth.oidc]` is set.
    oidc: Option<std::sync::Arc<oidc::OidcVerifier>>,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Reads `<data_dir>/jwt-secret`, creating it with 256 random bits on first use.
fn embedded_secret(data_dir: &Path) -> Result<SecretString, AuthError> {
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => {
            return Ok(SecretString::from(secret.trim().to_owned()));
        }
        Ok(_) => {
            return Err(AuthError::Setup(format!(
                "{} is shorter than 32 characters",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AuthError::Setup(format!(
                "failed to read {}: {e}",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AuthError::Setup(format!("failed to create {}: {e}", data_dir.display())))?;
    let bytes: [u8; 32] = rand::rng().random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)
        .map_err(|e| AuthError::Setup(format!("failed to write {}: {e}", path.display())))?;
    Ok(SecretString::from(secret))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

impl Authenticator {
    /// Sets up verification from configuration.
    pub fn from_config(config: &AuthConfig, data_dir: &Path) -> Result<Self, AuthError> {
        let keys = if let Some(path) = &config.jwks_path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AuthError::Setup(format!("failed to read {}: {e}", path.display())))?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                AuthError::Setup(format!("{} is not a JWKS document: {e}", path.display()))
            })?;
            let keys = set
                .keys
                .iter()
                .map(|jwk| {
                    DecodingKey::from_jwk(jwk)
                        .map(|key| (jwk.common.key_id.clone(), key))
                        .map_err(|e| {
                            AuthError::Setup(format!("unusable key in {}: {e}", path.display()))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(AuthError::Setup(format!(
                    "{} holds no keys",
                    path.display()
                )));
            }
            Keys::Rs256 { keys }
        } else {
            let secret = match &config.jwt_secret {
                Some(secret) => secret.clone(),
                None => embedded_secret(data_dir)?,
            };
            let bytes = secret.expose_secret().as_bytes();
            Keys::Hs256 {
                encoding: EncodingKey::from_secret(bytes),
                decoding: DecodingKey::from_secret(bytes),
            }
        };
        Ok(Self {
            keys,
            oidc: None,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs: config.token_ttl_secs,
        })
    }

    /// Mints an HS256 token for `user` valid for `ttl_secs` (the configured lifetime if `None`):
    /// a customer with no scope limit.
    pub fn mint(&self, user: &str, ttl_secs: Option<u64>) -> Result<String, AuthError> {
        self.mint_with(user, ttl_secs, &Grant::default())
    }

    /// [`Authenticator::mint`] with the roles and scopes of `grant`.
    pub fn mint_with(
        &self,
        user: &str,
        ttl_secs: Option<u64>,
        grant: &Grant,
    ) -> Result<String, AuthError> {
        let Keys::Hs256 { encoding, .. } = &self.keys else {
            return Err(AuthError::CannotMint);
        };
        if user.trim().is_empty() || user.len() > MAX_SUBJECT_BYTES {
            return Err(AuthError::InvalidToken(format!(
                "the user must be 1 to {MAX_SUBJECT_BYTES} bytes"
            )));
        }
        let ttl = ttl_secs.unwrap_or(self.ttl_secs);
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(AuthError::InvalidToken(format!(
                "the lifetime must be 1 to {MAX_TTL_SECS} seconds, got {ttl}"
            )));
        }
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            // Bounded above, so this cannot overflow into the past.
            exp: now + ttl as i64,
            roles: (!grant.roles.is_empty())
                .then(|| grant.roles.iter().map(|r| r.as_str().to_owned()).collect()),
            scope: (!grant.scopes.is_empty()).then(|| grant.scopes.join(" ")),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, encoding)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }

    /// Verifies a bare token.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::InvalidToken(e.to_string());
        let (algorithm, key) = match &self.keys {
            Keys::Hs256 { decoding, .. } => (Algorithm::HS256, decoding),
            Keys::Rs256 { keys } => {
                let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
                let key = keys
                    .iter()
                    .find(|(kid, _)| {
                        header.kid.is_none() || kid.as_deref() == header.kid.as_deref()
                    })
                    .map(|(_, key)| key)
                    .ok_or_else(|| AuthError::InvalidToken("unknown signing key".into()))?;
                (Algorithm::RS256, key)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(invalid)?;
        if data.claims.sub.trim().is_empty() || data.claims.sub.len() > MAX_SUBJECT_BYTES {
            return Err(AuthError::InvalidToken(format!(
                "`sub` must name a user in 1 to {MAX_SUBJECT_BYTES} bytes"
            )));
        }
        let expires_at: Option<DateTime<Utc>> = Utc.timestamp_opt(data.claims.exp, 0).single();
        let mut principal = Principal::user(data.claims.sub, expires_at);
        if let Some(roles) = &data.claims.roles {
            principal = principal.with_roles(roles.iter().filter_map(|r| Role::parse(r)));
        }
        if let Some(scope) = &data.claims.scope {
            principal = principal.with_scopes(scope.split_whitespace().map(str::to_owned));
        }
        Ok(principal)
    }

    /// Verifies an `Authorization` header value (`Bearer <token>`) signed by finpulse.
    pub fn verify_header(&self, value: &str) -> Result<Principal, AuthError> {
        self.verify(bearer(value)?)
    }

    /// Also verifies the identity provider's tokens: `discover`s it and keeps its verifier.
    pub async fn with_identity_provider(
        mut self,
        config: &oidc::OidcConfig,
    ) -> Result<Self, AuthError> {
        self.oidc = Some(std::sync::Arc::new(
            oidc::OidcVerifier::discover(config.clone()).await?,
        ));
        Ok(self)
    }

    /// The identity provider's verifier, when `[auth.oidc]` is set.
    pub fn identity_provider(&self) -> Option<std::sync::Arc<oidc::OidcVerifier>> {
        self.oidc.clone()
    }

    /// Verifies a bare token from finpulse or from the identity provider, whichever its `iss`
    /// names (read unverified only to pick the path; each path verifies everything).
    pub async fn verify_any(&self, token: &str) -> Result<Principal, AuthError> {
        match &self.oidc {
            Some(provider) if unverified_issuer(token).as_deref() == Some(provider.issuer()) => {
                provider.verify(token).await
            }
            _ => self.verify(token),
        }
    }

    /// [`Authenticator::verify_any`] of an `Authorization` header value.
    pub async fn verify_header_any(&self, value: &str) -> Result<Principal, AuthError> {
        self.verify_any(bearer(value)?).await
    }
}

/// The token of `Bearer <token>`.
fn bearer(value: &str) -> Result<&str, AuthError> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(AuthError::BadScheme)
}

/// The `iss` a token claims, before anything is verified.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

impl Authenticator {}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn authenticator(secret: &str) -> Authenticator {
        let config = AuthConfig {
            jwt_secret: Some(SecretString::from(secret.to_owned())),
            ..AuthConfig::default()
        };
        Authenticator::from_config(&config, Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn minted_tokens_verify_and_foreign_ones_do_not() {
        let ours = authenticator("a-secret-that-is-long-enough-for-hs256!!");
        let theirs = authenticator("another-secret-that-is-long-enough-too!!");
        let token = ours.mint("alice", None).unwrap();
        let principal = ours.verify_header(&format!("Bearer {token}")).unwrap();
        assert_eq!(principal.subject.as_deref(), Some("alice"));
        assert!(principal.expires_at.is_some());
        assert!(matches!(
            theirs.verify(&token),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            ours.verify_header(&token),
            Err(AuthError::BadScheme)
        ));
        assert!(matches!(
            ours.verify("not.a.jwt"),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn tokens_without_a_user_are_refused_and_lifetimes_are_bounded() {
        let auth = authenticator("a-secret-that-is-long-enough-for-hs256!!");
        let now = Utc::now().timestamp();
        let Keys::Hs256 { encoding, .. } = &auth.keys else {
            unreachable!()
        };
        for sub in ["", "   ", &"u".repeat(MAX_SUBJECT_BYTES + 1)] {
            let claims = Claims {
                sub: sub.into(),
                iss: "finpulse".into(),
                aud: "finpulse".into(),
                iat: now,
                exp: now + 60,
                roles: None,
                scope: None,
            };
            let token = jsonwebtoken::encode(&Header::default(), &claims, encoding).unwrap();
            assert!(
                matches!(auth.verify(&token), Err(AuthError::InvalidToken(m)) if m.contains("sub")),
                "sub {sub:?} was accepted"
            );
        }
        assert!(auth.mint("", None).is_err());
        assert!(auth.mint("alice", Some(u64::MAX)).is_err());
        assert!(auth.mint("alice", Some(0)).is_err());
        let token = auth.mint("alice", Some(MAX_TTL_SECS)).unwrap();
        let expires = auth.verify(&token).unwrap().expires_at.unwrap();
        assert!(expires > Utc::now() + chrono::Duration::days(365));
    }

    #[test]
    fn roles_and_scopes_travel_in_the_token() {
        let auth = authenticator("a-secret-that-is-long-enough-for-hs256!!");
        let plain = auth.verify(&auth.mint("alice", None).unwrap()).unwrap();
        assert_eq!(plain.roles, [Role::Customer].into());
        assert_eq!(plain.scopes, None);
        let grant = Grant {
            roles: vec![Role::Agent, Role::Admin],
            scopes: vec!["support:read".into(), "support:write".into()],
        };
        let agent = auth
            .verify(&auth.mint_with("bob", None, &grant).unwrap())
            .unwrap();
        assert_eq!(agent.roles, [Role::Agent, Role::Admin].into());
        assert!(agent.allows("support:write") && !agent.allows("watchlist:write"));
        // A role we do not know grants nothing.
        let now = Utc::now().timestamp();
        let Keys::Hs256 { encoding, .. } = &auth.keys else {
            unreachable!()
        };
        let claims = Claims {
            sub: "eve".into(),
            iss: "finpulse".into(),
            aud: "finpulse".into(),
            iat: now,
            exp: now + 60,
            roles: Some(vec!["root".into()]),
            scope: None,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, encoding).unwrap();
        assert!(auth.verify(&token).unwrap().roles.is_empty());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let auth = authenticator("a-secret-that-is-long-enough-for-hs256!!");
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: "alice".into(),
            iss: "finpulse".into(),
            aud: "finpulse".into(),
            iat: now - 100,
            exp: now - 60,
            roles: None,
            scope: None,
        };
        let Keys::Hs256 { encoding, .. } = &auth.keys else {
            unreachable!()
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, encoding).unwrap();
        assert!(matches!(
            auth.verify(&token),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn the_embedded_secret_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = embedded_secret(dir.path()).unwrap();
        let second = embedded_secret(dir.path()).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
    }
}
