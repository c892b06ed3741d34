-- Sign-in through an identity provider (`[auth.oidc]` with a `client_id`). A login attempt
-- lives from `/auth/login` to `/auth/callback` (ten minutes at most, used once); a session from
-- the callback to sign-out or its end. The browser holds only random identifiers in HttpOnly
-- cookies; these rows hold their SHA-256, never the identifiers themselves.
CREATE TABLE auth_login (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX auth_login_created ON auth_login (created_ms);
CREATE TABLE auth_session (
    id_hash          TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    access_token     TEXT NOT NULL,
    access_issued_ms BIGINT NOT NULL,
    access_expires_ms BIGINT NOT NULL,
    refresh_token    TEXT,
    id_token         TEXT,
    created_ms       BIGINT NOT NULL,
    expires_ms       BIGINT NOT NULL,
    lease_until_ms   BIGINT NOT NULL
);
CREATE INDEX auth_session_expires ON auth_session (expires_ms);
