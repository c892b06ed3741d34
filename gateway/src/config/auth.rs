//! `[auth]`: how tokens are verified and issued, and when development tokens are offered.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Token verification settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret; by default one is generated once and kept in `<data_dir>/jwt-secret`.
    #[serde(serialize_with = "skip_secret")]
    pub jwt_secret: Option<SecretString>,
    /// A JWKS document (file path) whose RSA keys verify RS256 tokens, instead of HS256.
    pub jwks_path: Option<PathBuf>,
    /// Required `iss` claim.
    pub issuer: String,
    /// Required `aud` claim.
    pub audience: String,
    /// Lifetime of tokens minted by `finpulse token`, in seconds.
    pub token_ttl_secs: u64,
    /// An OpenID Connect provider whose tokens are accepted (`[auth.oidc]`).
    pub oidc: Option<crate::auth::oidc::OidcConfig>,
    /// Development tokens (`POST /dev/token`, the dashboard's user picker): `true` (customer
    /// and agent roles), `"admin"` (the operator role too) or `false`. Whatever this says, they
    /// are served only on the embedded default bound to a loopback address; see
    /// [`Config::dev_tokens`].
    pub dev_tokens: DevTokens,
}

/// What `auth.dev_tokens` allows, where development tokens may be served at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevTokens {
    /// None.
    Off,
    /// Customers and agents (the default).
    #[default]
    On,
    /// Customers, agents and operators (`admin`): only when set explicitly.
    Admin,
}

impl DevTokens {
    /// True when a development token may carry `role`.
    pub fn grants(self, role: finpulse_graph::Role) -> bool {
        match self {
            Self::Off => false,
            Self::On => role != finpulse_graph::Role::Admin,
            Self::Admin => true,
        }
    }
}

impl Serialize for DevTokens {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => s.serialize_bool(false),
            Self::On => s.serialize_bool(true),
            Self::Admin => s.serialize_str("admin"),
        }
    }
}

impl<'de> Deserialize<'de> for DevTokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DevTokens;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or \"admin\"")
            }
            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<DevTokens, E> {
                Ok(if on { DevTokens::On } else { DevTokens::Off })
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<DevTokens, E> {
                match value {
                    "true" | "on" => Ok(DevTokens::On),
                    "false" | "off" => Ok(DevTokens::Off),
                    "admin" => Ok(DevTokens::Admin),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

pub(crate) fn skip_secret<S: serde::Serializer>(
    _: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwks_path: None,
            oidc: None,
            issuer: "finpulse".into(),
            audience: "finpulse".into(),
            token_ttl_secs: 24 * 3600,
            dev_tokens: DevTokens::On,
        }
    }
}
