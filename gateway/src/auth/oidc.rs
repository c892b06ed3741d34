//! Tokens from an OpenID Connect provider (Keycloak, Auth0, Cognito, Entra ID…): discovery,
//! the provider's signing keys fetched and cached, and its claims mapped to roles and scopes.
//!
//! - **Discovery**: `{issuer}/.well-known/openid-configuration` names the `jwks_uri`; its
//!   `issuer` must be the configured one exactly.
//! - **Keys**: fetched at start and again every `jwks_max_age_secs`; a token whose `kid` is not
//!   cached makes one refetch (key rotation), at most once per `jwks_min_refetch_secs`, so a
//!   flood of forged `kid`s cannot turn into a flood of requests to the provider.
//! - **Algorithms**: asymmetric only (RS*, PS*, ES256/384, EdDSA), and the one the key itself
//!   declares when it declares one: a token signed with HS256 using the provider's public key
//!   as the secret (the classic `alg` confusion) is refused before any key is used.
//! - **Claims**: `iss` must be the issuer, `aud` must contain `audience`, `exp` must be ahead
//!   (5 s leeway), `nbf` behind. Roles come from `roles_claim` (a dot path such as Keycloak's
//!   `realm_access.roles`; an array or a space-separated string), each mapped through
//!   `role_map` (provider name → `customer`/`agent`/`admin`; names that map to nothing grant
//!   nothing); a token with none is a customer. Scopes from `scope` (space-separated) or `scp`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use finpulse_graph::{Principal, Role};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::{AuthError, MAX_SUBJECT_BYTES};

/// `[auth.oidc]`: verify tokens issued by an OpenID Connect provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its tokens' `iss` (`https://idp.example/realms/bank`).
    pub issuer: String,
    /// The `aud` tokens must carry for finpulse (often the client id).
    pub audience: String,
    /// Where the roles are in the token: a claim name or a dot path.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Provider role names → finpulse roles (`customer`, `agent`, `admin`). Names not listed
    /// map to the finpulse role of the same name, if there is one.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// Seconds the cached keys are used before they are fetched again.
    #[serde(default = "default_max_age")]
    pub jwks_max_age_secs: u64,
    /// Least seconds between two fetches caused by unknown `kid`s.
    #[serde(default = "default_min_refetch")]
    pub jwks_min_refetch_secs: u64,
    /// Seconds one request to the provider may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// A PEM file of the certificate authorities the provider's certificate may chain to,
    /// besides the public ones (a bank's own CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// `[auth.oidc.login]`: the dashboard signs in through this provider.
    #[serde(default)]
    pub login: Option<super::sign_in::LoginConfig>,
}

fn default_roles_claim() -> String {
    "roles".into()
}
fn default_max_age() -> u64 {
    3600
}
fn default_min_refetch() -> u64 {
    30
}
fn default_timeout() -> u64 {
    5
}

impl OidcConfig {
    /// The first problem with the settings, named.
    pub fn validate(&self) -> Result<(), String> {
        let issuer = self.issuer.trim_end_matches('/');
        if !(issuer.starts_with("https://")
            || issuer.starts_with("http://127.0.0.1")
            || issuer.starts_with("http://localhost"))
        {
            return Err(format!(
                "auth.oidc.issuer `{}` must be https:// (plain http only for a provider on this machine)",
                self.issuer
            ));
        }
        if self.audience.trim().is_empty() {
            return Err("auth.oidc.audience must name finpulse's audience".into());
        }
        for (from, to) in &self.role_map {
            if Role::parse(to).is_none() {
                return Err(format!(
                    "auth.oidc.role_map: `{from}` maps to `{to}`, not customer, agent or admin"
                ));
            }
        }
        if self.timeout_secs == 0 || self.jwks_max_age_secs == 0 {
            return Err("auth.oidc.timeout_secs and jwks_max_age_secs must be at least 1".into());
        }
        if let Some(login) = &self.login {
            login.validate()?;
        }
        Ok(())
    }
}

/// Asymmetric algorithms a provider may sign with.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

struct CachedKey {
    kid: Option<String>,
    /// The algorithm the key declares (`alg`), when it does.
    algorithm: Option<Algorithm>,
    key: DecodingKey,
}

struct KeySet {
    keys: Vec<CachedKey>,
    fetched_at: Instant,
}

/// Where the provider's sign-in happens, from its discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `authorization_endpoint`.
    pub authorization: Option<String>,
    /// `token_endpoint`.
    pub token: Option<String>,
    /// `end_session_endpoint` (RP-initiated logout), when it has one.
    pub end_session: Option<String>,
    /// `revocation_endpoint`, when it has one.
    pub revocation: Option<String>,
}

/// Verifies a provider's tokens.
pub struct OidcVerifier {
    config: OidcConfig,
    endpoints: Endpoints,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// One fetch at a time; the others wait for it and use its keys. Holds when the last
    /// fetch for an unknown `kid` happened, the clock of that rate limit (the periodic refresh
    /// does not count: a rotation right after one is still picked up).
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

/// Why the keys are fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refetch {
    /// They are older than `jwks_max_age_secs`.
    Stale,
    /// A token names a `kid` they do not hold.
    UnknownKid,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

fn setup(message: String) -> AuthError {
    AuthError::Setup(message)
}

fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let name = format!("{:?}", jwk.common.key_algorithm?);
    name.parse().ok()
}

impl OidcVerifier {
    /// Discovers the provider and fetches its keys; fails with the reason when either fails.
    pub async fn discover(config: OidcConfig) -> Result<Self, AuthError> {
        let http = provider_client(&config)?;
        let issuer = config.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let document: Value = fetch_json(&http, &url).await?;
        let announced = document["issuer"].as_str().unwrap_or_default();
        if announced != config.issuer {
            return Err(setup(format!(
                "{url} says its issuer is `{announced}`, not `{}`",
                config.issuer
            )));
        }
        let jwks_uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| setup(format!("{url} names no jwks_uri")))?
            .to_owned();
        let endpoint = |name: &str| document[name].as_str().map(str::to_owned);
        let endpoints = Endpoints {
            authorization: endpoint("authorization_endpoint"),
            token: endpoint("token_endpoint"),
            end_session: endpoint("end_session_endpoint"),
            revocation: endpoint("revocation_endpoint"),
        };
        let keys = fetch_keys(&http, &jwks_uri).await?;
        if keys.is_empty() {
            return Err(setup(format!(
                "{jwks_uri} holds no signing key finpulse can use"
            )));
        }
        info!(issuer = %config.issuer, keys = keys.len(), "OIDC provider discovered");
        Ok(Self {
            config,
            endpoints,
            jwks_uri,
            http,
            keys: RwLock::new(KeySet {
                keys,
                fetched_at: Instant::now(),
            }),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// The issuer its tokens carry.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The settings it was discovered with.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's sign-in endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The client that talks to the provider (its CAs, its timeout, no redirects).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Fetches the keys again, unless the reason no longer holds once it is this caller's turn
    /// (another caller fetched meanwhile) or, for an unknown `kid`, one was fetched for that
    /// within `jwks_min_refetch_secs`.
    async fn refetch(&self, reason: Refetch, started: Instant) {
        let mut last_for_unknown = self.fetching.lock().await;
        if self.keys.read().fetched_at > started {
            return;
        }
        match reason {
            Refetch::Stale => {
                let max_age = Duration::from_secs(self.config.jwks_max_age_secs);
                if self.keys.read().fetched_at.elapsed() < max_age {
                    return;
                }
            }
            Refetch::UnknownKid => {
                let min = Duration::from_secs(self.config.jwks_min_refetch_secs);
                if last_for_unknown.is_some_and(|at| at.elapsed() < min) {
                    return;
                }
                *last_for_unknown = Some(Instant::now());
            }
        }
        match fetch_keys(&self.http, &self.jwks_uri).await {
            Ok(keys) if !keys.is_empty() => {
                *self.keys.write() = KeySet {
                    keys,
                    fetched_at: Instant::now(),
                };
            }
            Ok(_) => {
                warn!(jwks_uri = %self.jwks_uri, "the provider's key set is empty; keeping the cached keys")
            }
            Err(e) => {
                warn!(error = %e, "failed to refetch the provider's keys; keeping the cached ones");
                // Counts as a fetch for the rate limit: a down provider is not hammered.
                self.keys.write().fetched_at = Instant::now();
            }
        }
    }

    /// The cached key for `kid` usable with `algorithm`.
    fn key_for(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Option<Result<DecodingKey, AuthError>> {
        let keys = self.keys.read();
        let candidates: Vec<&CachedKey> = keys
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .collect();
        let key = match (kid, candidates.as_slice()) {
            (_, []) => return None,
            // Without a `kid` only a provider with a single key is unambiguous.
            (None, [_, _, ..]) => {
                return Some(Err(AuthError::InvalidToken(
                    "the token names no `kid` and the provider has several keys".into(),
                )));
            }
            (_, [key, ..]) => key,
        };
        if key.algorithm.is_some_and(|declared| declared != algorithm) {
            return Some(Err(AuthError::InvalidToken(format!(
                "the token says `{algorithm:?}`, its key is for `{:?}`",
                key.algorithm.expect("checked above")
            ))));
        }
        Some(Ok(key.key.clone()))
    }

    /// Verifies a provider's token.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::InvalidToken(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        if !ALLOWED.contains(&header.alg) {
            return Err(AuthError::InvalidToken(format!(
                "`{:?}` is not accepted from the identity provider (asymmetric algorithms only)",
                header.alg
            )));
        }
        let started = Instant::now();
        let max_age = Duration::from_secs(self.config.jwks_max_age_secs);
        if self.keys.read().fetched_at.elapsed() > max_age {
            self.refetch(Refetch::Stale, started).await;
        }
        let kid = header.kid.as_deref();
        let key = match self.key_for(kid, header.alg) {
            Some(found) => found?,
            None => {
                // A key the cache does not hold: the provider may have rotated.
                self.refetch(Refetch::UnknownKid, started).await;
                self.key_for(kid, header.alg)
                    .ok_or_else(|| AuthError::InvalidToken("unknown signing key".into()))??
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
                .map_err(invalid)?
                .claims;
        self.principal(&claims)
    }

    fn principal(&self, claims: &serde_json::Map<String, Value>) -> Result<Principal, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty() && s.len() <= MAX_SUBJECT_BYTES)
            .ok_or_else(|| {
                AuthError::InvalidToken(format!(
                    "`sub` must name a user in 1 to {MAX_SUBJECT_BYTES} bytes"
                ))
            })?;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_i64)
            .and_then(|exp| Utc.timestamp_opt(exp, 0).single());
        let mut principal = Principal::user(subject, expires_at);
        let mut path = self.config.roles_claim.split('.');
        let mut at = path.next().and_then(|first| claims.get(first));
        for part in path {
            at = at.and_then(|v| v.get(part));
        }
        let names: Vec<String> = match at {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() {
            principal = principal.with_roles(names.iter().filter_map(|name| {
                let ours = self
                    .config
                    .role_map
                    .get(name)
                    .map_or(name.as_str(), String::as_str);
                Role::parse(ours)
            }));
        }
        let scopes: Option<Vec<String>> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(text)), _) => {
                Some(text.split_whitespace().map(str::to_owned).collect())
            }
            (_, Some(Value::Array(items))) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        };
        if let Some(scopes) = scopes {
            // OpenID's own scopes say nothing about finpulse's: a token with only those is
            // not narrowed.
            let ours: Vec<String> = scopes
                .into_iter()
                .filter(|s| {
                    !matches!(
                        s.as_str(),
                        "openid" | "profile" | "email" | "offline_access"
                    )
                })
                .collect();
            if !ours.is_empty() {
                principal = principal.with_scopes(ours);
            }
        }
        Ok(principal)
    }
}

/// The HTTP client for the provider: its timeout, the extra CAs of `ca_file`, and no
/// redirects (a token request answered with a redirect is an error, not a request to
/// wherever it points).
fn provider_client(config: &OidcConfig) -> Result<reqwest::Client, AuthError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(config.timeout_secs))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            setup(format!(
                "failed to read auth.oidc.ca_file {}: {e}",
                path.display()
            ))
        })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            setup(format!(
                "auth.oidc.ca_file {} holds no PEM certificate: {e}",
                path.display()
            ))
        })?;
        if roots.is_empty() {
            return Err(setup(format!(
                "auth.oidc.ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
    }
    builder
        .build()
        .map_err(|e| setup(format!("failed to build the OIDC client: {e}")))
}

async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, AuthError> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| setup(format!("failed to reach {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(setup(format!("{url} answered {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|e| setup(format!("{url} did not answer JSON: {e}")))
}

/// The signing keys of the JWKS at `url`; keys for encryption, or of a kind this build cannot
/// use, are left out (one odd key must not lock everyone out).
async fn fetch_keys(http: &reqwest::Client, url: &str) -> Result<Vec<CachedKey>, AuthError> {
    let document = fetch_json(http, url).await?;
    let listed = document["keys"]
        .as_array()
        .ok_or_else(|| setup(format!("{url} is not a JWKS document (no `keys`)")))?;
    let mut keys = Vec::new();
    for value in listed {
        if value["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            warn!(kid = %value["kid"], "skipped a key this build cannot read");
            continue;
        };
        let algorithm = algorithm_of(&jwk);
        if algorithm.is_some_and(|a| !ALLOWED.contains(&a)) {
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => keys.push(CachedKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            }),
            Err(e) => warn!(kid = %value["kid"], error = %e, "skipped an unusable key"),
        }
    }
    Ok(keys)
}
