//! Sign-in through an identity provider, as the gateway keeps it between requests
//! (`migrations/*/0012_sign_in.sql`): the login attempts between `/auth/login` and
//! `/auth/callback`, and the sessions after it.
//!
//! Kept in the store, not in one process, so a callback or a renewal may reach any gateway
//! replica, and a sign-out ends the session everywhere at once. Renewal takes a lease on the
//! row first: providers rotate refresh tokens and treat a second use of an old one as theft
//! (revoking the whole grant), so of two tabs or two replicas renewing together exactly one
//! calls the provider and the other waits for its tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::instrument;

use crate::sql::{from_ms, to_ms};
use crate::{Result, SqlStore};

/// One sign-in under way: what `/auth/callback` needs to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// SHA-256 of the random value in the browser's login cookie: the callback must come back
    /// to the browser that started it (no login CSRF).
    pub browser_hash: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// Where the browser goes once signed in (a path on this server).
    pub return_to: String,
    /// When `/auth/login` made it.
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInSession {
    /// SHA-256 of the session cookie's value.
    pub id_hash: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The newest access token, handed to the page.
    pub access_token: String,
    /// When it was issued.
    pub access_issued_at: DateTime<Utc>,
    /// When it expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<String>,
    /// The ID token, kept as the `id_token_hint` of the provider's logout.
    pub id_token: Option<String>,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When the session ends, renewed or not.
    pub expires_at: DateTime<Utc>,
}

/// New tokens from a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewedTokens {
    /// The access token.
    pub access_token: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// A rotated refresh token; `None` keeps the one held.
    pub refresh_token: Option<String>,
    /// A new ID token; `None` keeps the one held.
    pub id_token: Option<String>,
}

/// Login attempts and sessions.
#[async_trait]
pub trait SignInData: Send + Sync + 'static {
    /// Keeps a login attempt until its callback.
    async fn begin_login(&self, attempt: &LoginAttempt) -> Result<()>;

    /// Takes the attempt of `state_hash` (it can be taken once) when it was made after
    /// `not_before`.
    async fn take_login(
        &self,
        state_hash: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<LoginAttempt>>;

    /// Keeps a new session.
    async fn create_session(&self, session: &SignInSession) -> Result<()>;

    /// The session of `id_hash`, when it has not ended at `now`.
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SignInSession>>;

    /// Takes the right to renew the session until `until`: true for one caller at a time (until
    /// the lease ends or [`SignInData::renew_session`] releases it).
    async fn lease_renewal(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Stores the tokens of a renewal and releases the lease.
    async fn renew_session(&self, id_hash: &str, tokens: &RenewedTokens) -> Result<()>;

    /// Releases the lease without new tokens (the renewal failed).
    async fn release_renewal(&self, id_hash: &str) -> Result<()>;

    /// Ends the session; returns it as it was.
    async fn end_session(&self, id_hash: &str) -> Result<Option<SignInSession>>;

    /// Ends every session of `subject` (all their browsers); returns how many.
    async fn end_sessions_of(&self, subject: &str) -> Result<u64>;

    /// Removes attempts made before `attempts_before` and sessions ended by `now`; returns how
    /// many rows went.
    async fn purge_sign_ins(
        &self,
        attempts_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
}

const SESSION_COLUMNS: &str = "id_hash, subject, access_token, access_issued_ms, \
     access_expires_ms, refresh_token, id_token, created_ms, expires_ms";

fn read_session(row: &AnyRow) -> Result<SignInSession> {
    Ok(SignInSession {
        id_hash: row.try_get("id_hash")?,
        subject: row.try_get("subject")?,
        access_token: row.try_get("access_token")?,
        access_issued_at: from_ms(row.try_get("access_issued_ms")?),
        access_expires_at: from_ms(row.try_get("access_expires_ms")?),
        refresh_token: row.try_get("refresh_token")?,
        id_token: row.try_get("id_token")?,
        created_at: from_ms(row.try_get("created_ms")?),
        expires_at: from_ms(row.try_get("expires_ms")?),
    })
}

#[async_trait]
impl SignInData for SqlStore {
    #[instrument(skip_all, err)]
    async fn begin_login(&self, attempt: &LoginAttempt) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_login (state_hash, browser_hash, pkce_verifier, return_to, created_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&attempt.state_hash)
        .bind(&attempt.browser_hash)
        .bind(&attempt.pkce_verifier)
        .bind(&attempt.return_to)
        .bind(to_ms(attempt.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all, err)]
    async fn take_login(
        &self,
        state_hash: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<LoginAttempt>> {
        // One statement, no read-then-write transaction (on SQLite, a busy writer would fail
        // its upgrade): of two callbacks with the same state, one deletes the row and gets it,
        // the other gets nothing.
        let row = sqlx::query(
            "DELETE FROM auth_login WHERE state_hash = $1
             RETURNING state_hash, browser_hash, pkce_verifier, return_to, created_ms",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempt = LoginAttempt {
            state_hash: row.try_get("state_hash")?,
            browser_hash: row.try_get("browser_hash")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            return_to: row.try_get("return_to")?,
            created_at: from_ms(row.try_get("created_ms")?),
        };
        Ok((attempt.created_at >= not_before).then_some(attempt))
    }

    #[instrument(skip_all, fields(subject = %session.subject), err)]
    async fn create_session(&self, session: &SignInSession) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO auth_session ({SESSION_COLUMNS}, lease_until_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)"
        ))
        .bind(&session.id_hash)
        .bind(&session.subject)
        .bind(&session.access_token)
        .bind(to_ms(session.access_issued_at))
        .bind(to_ms(session.access_expires_at))
        .bind(&session.refresh_token)
        .bind(&session.id_token)
        .bind(to_ms(session.created_at))
        .bind(to_ms(session.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all, err)]
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SignInSession>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM auth_session WHERE id_hash = $1 AND expires_ms > $2"
        ))
        .bind(id_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_session).transpose()
    }

    #[instrument(skip_all, err)]
    async fn lease_renewal(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "UPDATE auth_session SET lease_until_ms = $1
             WHERE id_hash = $2 AND lease_until_ms <= $3 AND expires_ms > $3",
        )
        .bind(to_ms(until))
        .bind(id_hash)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    #[instrument(skip_all, err)]
    async fn renew_session(&self, id_hash: &str, tokens: &RenewedTokens) -> Result<()> {
        sqlx::query(
            "UPDATE auth_session SET access_token = $1, access_issued_ms = $2,
                 access_expires_ms = $3, refresh_token = COALESCE($4, refresh_token),
                 id_token = COALESCE($5, id_token), lease_until_ms = 0
             WHERE id_hash = $6",
        )
        .bind(&tokens.access_token)
        .bind(to_ms(tokens.issued_at))
        .bind(to_ms(tokens.expires_at))
        .bind(&tokens.refresh_token)
        .bind(&tokens.id_token)
        .bind(id_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all, err)]
    async fn release_renewal(&self, id_hash: &str) -> Result<()> {
        sqlx::query("UPDATE auth_session SET lease_until_ms = 0 WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all, err)]
    async fn end_session(&self, id_hash: &str) -> Result<Option<SignInSession>> {
        let row = sqlx::query(&format!(
            "DELETE FROM auth_session WHERE id_hash = $1 RETURNING {SESSION_COLUMNS}"
        ))
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_session).transpose()
    }

    #[instrument(skip_all, err)]
    async fn end_sessions_of(&self, subject: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM auth_session WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    #[instrument(skip_all, err)]
    async fn purge_sign_ins(
        &self,
        attempts_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let attempts = sqlx::query("DELETE FROM auth_login WHERE created_ms < $1")
            .bind(to_ms(attempts_before))
            .execute(&self.pool)
            .await?
            .rows_affected();
        let sessions = sqlx::query("DELETE FROM auth_session WHERE expires_ms <= $1")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(attempts + sessions)
    }
}
