//! The dashboard's sign-in through the identity provider (`[auth.oidc.login]`): OAuth 2.0
//! authorization code with PKCE (S256), the provider's endpoints from its discovery document.
//!
//! The browser holds two random values, each in an `HttpOnly` cookie JavaScript cannot read:
//! a login cookie from `/auth/login` to `/auth/callback` (the callback must come back to the
//! browser that started it, so nobody can sign a victim in as themselves), and a session
//! cookie afterwards. The tokens stay on the server ([`finpulse_store::SignInData`]); the
//! page asks `POST /auth/token` for the current access token and keeps it in memory only,
//! never in `localStorage` (OAuth 2.0 for Browser-Based Apps calls this a token-mediating
//! backend). An access token is handed out again while more than half its lifetime is left;
//! after that the refresh token renews it, one renewal per session at a time across every
//! replica (see [`finpulse_store::sign_in`]).
//!
//! The access token is what finpulse verifies on every request, so it must be a JWT for
//! `auth.oidc.audience`; one that is not (an opaque token, another audience) fails the
//! callback with a message that says so, rather than a session that cannot do anything.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use finpulse_graph::Principal;
use finpulse_store::SignInData;
use finpulse_store::sign_in::{LoginAttempt, RenewedTokens, SignInSession};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::url::Url;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::oidc::OidcVerifier;

mod settings;

pub use settings::LoginConfig;

/// How long a login attempt waits for its callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How long one replica's renewal holds the session before another may try.
const RENEWAL_LEASE: Duration = Duration::from_secs(15);
/// How long a caller that found a renewal under way waits for its tokens.
const RENEWAL_WAIT: Duration = Duration::from_secs(10);
/// The ID token beside the standard fields of a token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type ProviderTokens = StandardTokenResponse<IdTokenField, BasicTokenType>;

type ProviderClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why a sign-in step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The callback has no login attempt: too old, used already, or from another browser.
    #[error("this sign-in expired or was already used; start again")]
    UnknownAttempt,
    /// The provider sent the browser back with an error.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The callback lacks `code` or `state`.
    #[error("the identity provider's answer lacks `{0}`")]
    Malformed(&'static str),
    /// The provider's access token is not one finpulse accepts.
    #[error(
        "the identity provider's access token is not one finpulse accepts ({0}); it must be a JWT for auth.oidc.audience (Auth0: set params.audience; resource indicators: params.resource)"
    )]
    UnusableToken(String),
    /// No session, or it ended.
    #[error("not signed in")]
    SignedOut,
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] finpulse_store::StoreError),
}

/// An access token for the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageToken {
    /// The bearer token.
    pub token: String,
    /// Its user.
    pub user: String,
    /// Its roles.
    pub roles: Vec<&'static str>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What `/auth/login` hands the browser.
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL with every parameter.
    pub authorize_url: Url,
    /// The login cookie's value.
    pub browser_secret: String,
}

/// A finished sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The session cookie's value.
    pub session_secret: String,
    /// Where the browser goes now.
    pub return_to: String,
}

/// The sign-in flow of one gateway.
pub struct SignIn {
    config: LoginConfig,
    client: ProviderClient,
    verifier: Arc<OidcVerifier>,
    store: Arc<dyn SignInData>,
    redirect: Url,
    post_logout: Url,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("client_id", &self.config.client_id)
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

/// 32 random bytes, base64url.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of `secret`, hex: what the store keeps of a cookie or a state.
fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn chrono_of(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).expect("finpulse's durations fit")
}

/// The provider's error of a token request, as words.
fn token_error<RE: std::error::Error + 'static>(
    error: RequestTokenError<RE, BasicErrorResponse>,
) -> (bool, String) {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let grant_gone = matches!(
                response.error(),
                oauth2::basic::BasicErrorResponseType::InvalidGrant
            );
            let text = match response.error_description() {
                Some(description) => format!("{}: {description}", response.error()),
                None => response.error().to_string(),
            };
            (grant_gone, text)
        }
        RequestTokenError::Request(e) => (false, format!("request failed: {e}")),
        RequestTokenError::Parse(e, _) => (false, format!("unreadable token response: {e}")),
        RequestTokenError::Other(text) => (false, text),
    }
}

impl SignIn {
    /// The flow for the provider `verifier` discovered.
    pub fn new(
        config: LoginConfig,
        verifier: Arc<OidcVerifier>,
        store: Arc<dyn SignInData>,
    ) -> Result<Self, String> {
        let endpoints = verifier.endpoints();
        let authorization = endpoints
            .authorization
            .clone()
            .ok_or("the provider's discovery document names no authorization_endpoint")?;
        let token = endpoints
            .token
            .clone()
            .ok_or("the provider's discovery document names no token_endpoint")?;
        let redirect = Url::parse(&config.redirect_url).map_err(|e| e.to_string())?;
        let post_logout = match &config.post_logout_redirect_url {
            Some(url) => Url::parse(url).map_err(|e| e.to_string())?,
            None => redirect.join("/app/").map_err(|e| e.to_string())?,
        };
        let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(AuthUrl::new(authorization).map_err(|e| e.to_string())?)
            .set_token_uri(TokenUrl::new(token).map_err(|e| e.to_string())?)
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_url.clone()).map_err(|e| e.to_string())?,
            );
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self {
            config,
            client,
            verifier,
            store,
            redirect,
            post_logout,
        })
    }

    /// The dashboard's origin (`https://finpulse.example`): POSTs to `/auth/*` must come from it.
    pub fn origin(&self) -> String {
        self.redirect.origin().ascii_serialization()
    }

    /// True when the cookies must be `Secure` (the dashboard is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.redirect.scheme() == "https"
    }

    /// Seconds a session lasts.
    pub fn session_max_age_secs(&self) -> u64 {
        self.config.session_max_age_secs
    }

    /// Starts a sign-in that returns to `return_to`.
    pub async fn begin(&self, return_to: &str) -> Result<LoginStart, SignInError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_secret();
        let browser_secret = random_secret();
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in &self.config.params {
            request = request.add_extra_param(name, value);
        }
        let (authorize_url, _) = request.url();
        self.store
            .begin_login(&LoginAttempt {
                state_hash: digest(&state),
                browser_hash: digest(&browser_secret),
                pkce_verifier: verifier.secret().clone(),
                return_to: return_to.to_owned(),
                created_at: Utc::now(),
            })
            .await?;
        Ok(LoginStart {
            authorize_url,
            browser_secret,
        })
    }

    /// Finishes the sign-in the provider sent back: checks the state against this browser's
    /// login cookie, exchanges the code with its PKCE verifier, and keeps a session.
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        browser_secret: Option<&str>,
    ) -> Result<SignedIn, SignInError> {
        let not_before = Utc::now() - chrono_of(LOGIN_TTL);
        let attempt = self
            .store
            .take_login(&digest(state), not_before)
            .await?
            .ok_or(SignInError::UnknownAttempt)?;
        if browser_secret.map(digest).as_deref() != Some(attempt.browser_hash.as_str()) {
            warn!("a sign-in callback came back to another browser than the one that started it");
            return Err(SignInError::UnknownAttempt);
        }
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
            .request_async(self.verifier.http())
            .await
            .map_err(|e| {
                let (_, text) = token_error(e);
                SignInError::Refused(text)
            })?;
        let issued_at = Utc::now();
        let access_token = tokens.access_token().secret().clone();
        let principal = self
            .verifier
            .verify(&access_token)
            .await
            .map_err(|e| SignInError::UnusableToken(e.to_string()))?;
        let subject = principal
            .subject
            .clone()
            .expect("a verified provider token names its subject");
        let session_secret = random_secret();
        self.store
            .create_session(&SignInSession {
                id_hash: digest(&session_secret),
                subject: subject.clone(),
                access_expires_at: expiry(&principal, &tokens, issued_at),
                access_token,
                access_issued_at: issued_at,
                refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
                id_token: tokens.extra_fields().id_token.clone(),
                created_at: issued_at,
                expires_at: issued_at
                    + chrono_of(Duration::from_secs(self.config.session_max_age_secs)),
            })
            .await?;
        info!(user = %subject, "signed in through the identity provider");
        Ok(SignedIn {
            session_secret,
            return_to: attempt.return_to,
        })
    }

    /// True when `session_secret` names a session that has not ended.
    pub async fn signed_in(&self, session_secret: &str) -> Result<bool, SignInError> {
        Ok(self
            .store
            .session(&digest(session_secret), Utc::now())
            .await?
            .is_some())
    }

    /// The access token of the session whose cookie is `session_secret`: the one held while
    /// more than half its lifetime is left, a renewed one after that.
    pub async fn token(&self, session_secret: &str) -> Result<PageToken, SignInError> {
        let id_hash = digest(session_secret);
        let now = Utc::now();
        let session = self
            .store
            .session(&id_hash, now)
            .await?
            .ok_or(SignInError::SignedOut)?;
        let lifetime = session.access_expires_at - session.access_issued_at;
        let fresh = session.access_expires_at - now > lifetime / 2;
        if fresh || session.refresh_token.is_none() {
            match self.page_token(&session.access_token).await {
                Ok(token) => return Ok(token),
                // Without a refresh token an expired access token is the end of the session.
                Err(error) if session.refresh_token.is_none() => {
                    self.store.end_session(&id_hash).await?;
                    return Err(error);
                }
                Err(_) => {}
            }
        }
        self.renew(&id_hash, session).await
    }

    async fn page_token(&self, access_token: &str) -> Result<PageToken, SignInError> {
        let principal = self
            .verifier
            .verify(access_token)
            .await
            .map_err(|_| SignInError::SignedOut)?;
        Ok(PageToken {
            token: access_token.to_owned(),
            user: principal.subject.clone().unwrap_or_default(),
            roles: principal.roles.iter().map(|r| r.as_str()).collect(),
            expires_at: principal.expires_at.unwrap_or_else(Utc::now),
        })
    }

    async fn renew(&self, id_hash: &str, session: SignInSession) -> Result<PageToken, SignInError> {
        let now = Utc::now();
        if !self
            .store
            .lease_renewal(id_hash, now, now + chrono_of(RENEWAL_LEASE))
            .await?
        {
            return self.wait_for_renewal(id_hash, &session).await;
        }
        // Read again under the lease: another caller may have renewed between this one's read
        // and its lease, and the refresh token read before is then spent (a second use of it
        // would end the grant).
        let Some(current) = self.store.session(id_hash, now).await? else {
            return Err(SignInError::SignedOut);
        };
        if current.access_token != session.access_token {
            self.store.release_renewal(id_hash).await?;
            return self.page_token(&current.access_token).await;
        }
        let session = current;
        let Some(refresh) = session.refresh_token.clone() else {
            self.store.release_renewal(id_hash).await?;
            return self.page_token(&session.access_token).await;
        };
        let renewed = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(self.verifier.http())
            .await;
        let tokens = match renewed {
            Ok(tokens) => tokens,
            Err(error) => {
                let (grant_gone, text) = token_error(error);
                if grant_gone {
                    info!(user = %session.subject, reason = %text, "the provider ended the session");
                    self.store.end_session(id_hash).await?;
                    return Err(SignInError::SignedOut);
                }
                self.store.release_renewal(id_hash).await?;
                warn!(reason = %text, "token renewal failed");
                // The token held may still be good for a while; the page retries before it ends.
                return self
                    .page_token(&session.access_token)
                    .await
                    .map_err(|_| SignInError::Unavailable(text));
            }
        };
        let issued_at = Utc::now();
        let access_token = tokens.access_token().secret().clone();
        let principal = match self.verifier.verify(&access_token).await {
            Ok(principal) => principal,
            Err(error) => {
                self.store.end_session(id_hash).await?;
                return Err(SignInError::UnusableToken(error.to_string()));
            }
        };
        self.store
            .renew_session(
                id_hash,
                &RenewedTokens {
                    expires_at: expiry(&principal, &tokens, issued_at),
                    access_token: access_token.clone(),
                    issued_at,
                    refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
                    id_token: tokens.extra_fields().id_token.clone(),
                },
            )
            .await?;
        self.page_token(&access_token).await
    }

    /// Another caller holds the renewal: wait for its token, or use the one held while it is
    /// still good.
    async fn wait_for_renewal(
        &self,
        id_hash: &str,
        before: &SignInSession,
    ) -> Result<PageToken, SignInError> {
        let deadline = tokio::time::Instant::now() + RENEWAL_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some(now) = self.store.session(id_hash, Utc::now()).await? else {
                return Err(SignInError::SignedOut);
            };
            if now.access_token != before.access_token {
                return self.page_token(&now.access_token).await;
            }
        }
        self.page_token(&before.access_token)
            .await
            .map_err(|_| SignInError::Unavailable("a renewal under way did not finish".into()))
    }

    /// Ends the session of `session_secret`; returns the provider's logout URL for the browser,
    /// when it has one. The refresh token is revoked at the provider when it offers revocation.
    pub async fn sign_out(&self, session_secret: &str) -> Result<Option<Url>, SignInError> {
        let Some(session) = self.store.end_session(&digest(session_secret)).await? else {
            return Ok(None);
        };
        info!(user = %session.subject, "signed out");
        let endpoints = self.verifier.endpoints();
        if let (Some(revocation), Some(refresh)) = (&endpoints.revocation, &session.refresh_token) {
            self.revoke(revocation, refresh).await;
        }
        let Some(end_session) = &endpoints.end_session else {
            return Ok(None);
        };
        let Ok(mut url) = Url::parse(end_session) else {
            warn!(url = %end_session, "the provider's end_session_endpoint is not a URL");
            return Ok(None);
        };
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", &self.config.client_id);
            query.append_pair("post_logout_redirect_uri", self.post_logout.as_str());
            if let Some(id_token) = &session.id_token {
                query.append_pair("id_token_hint", id_token);
            }
        }
        Ok(Some(url))
    }

    /// Best effort: a refresh token left valid after sign-out is one a thief could still use.
    async fn revoke(&self, revocation: &str, refresh: &str) {
        let mut form = vec![("token", refresh), ("token_type_hint", "refresh_token")];
        let mut request = self.verifier.http().post(revocation);
        match &self.config.client_secret {
            Some(secret) => {
                request = request.basic_auth(&self.config.client_id, Some(secret.expose_secret()));
            }
            None => form.push(("client_id", &self.config.client_id)),
        }
        match request.form(&form).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                warn!(status = %response.status(), "the provider did not revoke the refresh token")
            }
            Err(e) => warn!(error = %e, "failed to reach the provider's revocation endpoint"),
        }
    }

    /// Removes attempts that were never finished and sessions that ended.
    pub async fn purge(&self) -> Result<u64, SignInError> {
        let now = Utc::now();
        Ok(self
            .store
            .purge_sign_ins(now - chrono_of(LOGIN_TTL), now)
            .await?)
    }
}

/// When an access token expires: its `exp`, else the response's `expires_in`, else a minute.
fn expiry(
    principal: &Principal,
    tokens: &ProviderTokens,
    issued_at: DateTime<Utc>,
) -> DateTime<Utc> {
    principal.expires_at.unwrap_or_else(|| {
        issued_at + chrono_of(tokens.expires_in().unwrap_or(Duration::from_secs(60)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_keeps_digests_not_secrets() {
        let secret = random_secret();
        assert_eq!(secret.len(), 43, "32 bytes, base64url without padding");
        assert_ne!(random_secret(), secret);
        let kept = digest(&secret);
        assert_eq!(kept.len(), 64);
        assert!(!kept.contains(&secret));
        // SHA-256("abc"), from FIPS 180-2's example.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
