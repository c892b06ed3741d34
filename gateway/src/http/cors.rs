//! Cross-origin calls from pages on other sites: a bank's pages embed the chat widget, which
//! then calls this server's `/graphql` (and, on the embedded default, `/dev/token`).
//!
//! Off unless origins are listed (`[cors] allowed_origins`): a browser then refuses every
//! cross-origin call, which is right for a server only its own dashboard uses. Tokens travel in
//! `Authorization`, never in cookies, so no credentials are allowed and `"*"` is safe when the
//! widget may sit on any site. WebSockets are not subject to CORS; a socket proves who it is
//! with the token in `connection_init` like any other.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins as a browser sends them (`https://www.bank.example`, with a port when it is
    /// not the scheme's), or `["*"]` for any. Empty (the default): same origin only.
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    /// Checks every origin, naming the first that is not one.
    pub fn validate(&self) -> Result<(), String> {
        if self.allowed_origins.iter().any(|o| o == "*") {
            if self.allowed_origins.len() > 1 {
                return Err(
                    "cors.allowed_origins: \"*\" allows every origin and stands alone".into(),
                );
            }
            return Ok(());
        }
        for origin in &self.allowed_origins {
            check_origin(origin).map_err(|problem| {
                format!("cors.allowed_origins: `{origin}` is not an origin: {problem}")
            })?;
        }
        Ok(())
    }

    /// The layer that answers for the listed origins, or `None` when none are listed.
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.allowed_origins.is_empty() {
            return None;
        }
        let origins = if self.allowed_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
                .expose_headers([HeaderName::from_static("retry-after")])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("it must start with https:// or http://")?;
    if rest.is_empty() {
        return Err("the host is missing");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment (no trailing slash either)");
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err("the host may hold only letters, digits, `.`, `-`, and `:port`");
    }
    if let Some((_, port)) = rest.rsplit_once(':').filter(|_| !rest.ends_with(']'))
        && port.parse::<u16>().is_err()
    {
        return Err("the port must be a number up to 65535");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str]) -> CorsSettings {
        CorsSettings {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn origins_are_checked() {
        for good in [
            &[][..],
            &["*"],
            &["https://www.bank.example"],
            &[
                "http://127.0.0.1:3000",
                "https://[::1]:8443",
                "https://a-b.example",
            ],
        ] {
            assert_eq!(settings(good).validate(), Ok(()), "{good:?}");
        }
        for (bad, says) in [
            (&["www.bank.example"][..], "https://"),
            (&["https://www.bank.example/"], "trailing slash"),
            (&["https://bank.example/chat"], "no path"),
            (&["https://"], "host is missing"),
            (&["https://bank.example:99999"], "port"),
            (&["https://bank example"], "letters"),
            (&["*", "https://bank.example"], "stands alone"),
        ] {
            let error = settings(bad).validate().unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn no_origins_no_layer() {
        assert!(settings(&[]).layer().is_none());
        assert!(settings(&["https://bank.example"]).layer().is_some());
    }
}
