//! `[auth.oidc.login]`: the dashboard's sign-in settings and their checks.

use std::collections::BTreeMap;

use oauth2::url::Url;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Parameters finpulse sets itself; `params` may not replace them.
const RESERVED_PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
];

/// `[auth.oidc.login]`: the dashboard signs users in through the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// The client id finpulse is registered with at the provider.
    pub client_id: String,
    /// The client secret (a confidential client, recommended); none for a public client,
    /// which PKCE still protects.
    #[serde(default, serialize_with = "crate::config::skip_secret")]
    pub client_secret: Option<SecretString>,
    /// This server's `/auth/callback` as browsers reach it, registered at the provider
    /// (`https://finpulse.example/auth/callback`). Its origin is the dashboard's.
    pub redirect_url: String,
    /// Scopes asked for; `openid` must be one. Add `offline_access` where the provider gives
    /// refresh tokens only for it (Auth0, `oidc-provider`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// More parameters of the authorization request: `audience` for Auth0, `resource` for a
    /// provider with resource indicators, `prompt`, `acr_values`…
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Seconds a session lasts from sign-in, renewed or not.
    #[serde(default = "default_session_max_age")]
    pub session_max_age_secs: u64,
    /// Where the provider sends the browser after signing out (registered at the provider);
    /// default: the dashboard.
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}
fn default_session_max_age() -> u64 {
    8 * 3600
}

/// True for an `https` URL, or an `http` one on this machine.
fn secure_or_local(url: &Url) -> bool {
    url.scheme() == "https"
        || (url.scheme() == "http"
            && matches!(
                url.host_str(),
                Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
            ))
}

impl LoginConfig {
    /// The first problem with the settings, named.
    pub fn validate(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err("auth.oidc.login.client_id is empty".into());
        }
        let redirect = Url::parse(&self.redirect_url).map_err(|e| {
            format!(
                "auth.oidc.login.redirect_url `{}` is not a URL: {e}",
                self.redirect_url
            )
        })?;
        if !secure_or_local(&redirect) {
            return Err(format!(
                "auth.oidc.login.redirect_url `{}` must be https:// (plain http only on this machine)",
                self.redirect_url
            ));
        }
        if redirect.path() != "/auth/callback" {
            return Err(format!(
                "auth.oidc.login.redirect_url `{}` must end in /auth/callback, where finpulse answers it",
                self.redirect_url
            ));
        }
        if let Some(after) = &self.post_logout_redirect_url {
            let url = Url::parse(after).map_err(|e| {
                format!("auth.oidc.login.post_logout_redirect_url `{after}` is not a URL: {e}")
            })?;
            if !secure_or_local(&url) {
                return Err(format!(
                    "auth.oidc.login.post_logout_redirect_url `{after}` must be https://"
                ));
            }
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("auth.oidc.login.scopes must include `openid`".into());
        }
        if let Some(name) = self
            .params
            .keys()
            .find(|name| RESERVED_PARAMS.contains(&name.as_str()))
        {
            return Err(format!(
                "auth.oidc.login.params may not set `{name}`: finpulse sets it itself"
            ));
        }
        if self.session_max_age_secs < 60 {
            return Err("auth.oidc.login.session_max_age_secs must be at least 60".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoginConfig {
        LoginConfig {
            client_id: "finpulse".into(),
            client_secret: None,
            redirect_url: "https://finpulse.example/auth/callback".into(),
            scopes: default_scopes(),
            params: BTreeMap::new(),
            session_max_age_secs: 3600,
            post_logout_redirect_url: None,
        }
    }

    #[test]
    fn login_settings_are_checked() {
        assert_eq!(config().validate(), Ok(()));
        let local = LoginConfig {
            redirect_url: "http://127.0.0.1:8000/auth/callback".into(),
            ..config()
        };
        assert_eq!(local.validate(), Ok(()));
        let plain = LoginConfig {
            redirect_url: "http://finpulse.example/auth/callback".into(),
            ..config()
        };
        assert!(plain.validate().unwrap_err().contains("https"));
        let elsewhere = LoginConfig {
            redirect_url: "https://finpulse.example/callback".into(),
            ..config()
        };
        assert!(elsewhere.validate().unwrap_err().contains("/auth/callback"));
        let no_openid = LoginConfig {
            scopes: vec!["profile".into()],
            ..config()
        };
        assert!(no_openid.validate().unwrap_err().contains("openid"));
        let mut reserved = config();
        reserved
            .params
            .insert("redirect_uri".into(), "https://evil.example".into());
        assert!(reserved.validate().unwrap_err().contains("redirect_uri"));
    }
}
