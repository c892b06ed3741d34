//! The one typed configuration tree.
//!
//! Read in layers: built-in defaults, then `finpulse.toml` (or the file given with `--config`),
//! then `FINPULSE_*` environment variables, where `__` separates nesting levels:
//! `FINPULSE_LISTEN=0.0.0.0:8000`, `FINPULSE_DATABASE_URL=sqlite:/tmp/f.db`,
//! `FINPULSE_MARKET__SIMULATOR__SPEED=1`. Unknown keys are errors, so a typo is reported rather than
//! ignored. Every value has a default that runs the embedded single-process platform.
//!
//! Each domain's section is its crate's settings type (`[market]`, `[recommend]`, `[support]`),
//! checked by the domain; the backends' groups are in [`backends`], identity in [`auth`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use finpulse_bus::log::KafkaConfig;
use finpulse_graph::limits::QueryLimits;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

mod auth;
mod backends;

pub use crate::limits::LimitsConfig;
pub(crate) use auth::skip_secret;
pub use auth::{AuthConfig, DevTokens};
pub use backends::{CacheSettings, FanOutConfig, InferenceSettings, LogConfig, RedisTlsFiles};

/// Everything `finpulse` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP and WebSocket server binds.
    pub listen: SocketAddr,
    /// Folder for the embedded database and the generated JWT secret.
    pub data_dir: PathBuf,
    /// Store connection string; default `sqlite:<data_dir>/finpulse.db`.
    pub database_url: Option<String>,
    /// Kafka brokers (`host:port,…`); when set, the event log is Kafka instead of in-process.
    pub kafka_brokers: Option<String>,
    /// Kafka client tuning (its `brokers` is taken from `kafka_brokers`).
    pub kafka: KafkaConfig,
    /// Redis (`redis://host:port/db`); when set, results fan out to every replica through
    /// Redis pub/sub instead of in-process.
    pub redis_url: Option<String>,
    /// TLS to Redis for `rediss://` URLs: a private CA, a client certificate.
    pub redis_tls: RedisTlsFiles,
    /// Fan-out tuning.
    pub fanout: FanOutConfig,
    /// What this process does: `all` (default), `gateway` or `worker`.
    pub role: Role,
    /// The Redis read-through cache of hot reads (used when `redis_url` is set).
    pub cache: CacheSettings,
    /// Models (ONNX Runtime).
    pub inference: InferenceSettings,
    /// `tracing` filter, e.g. `info` or `finpulse=debug,info`.
    pub log_level: String,
    /// `pretty` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Identity.
    pub auth: AuthConfig,
    /// WebSocket sessions.
    pub websocket: WebSocketConfig,
    /// Limits of one GraphQL document (size, nesting, fragments, fields), checked before it is
    /// parsed or run.
    pub graphql: QueryLimits,
    /// Rate, connection and time limits of clients.
    pub limits: LimitsConfig,
    /// The event log.
    pub log: LogConfig,
    /// The market domain: its simulator, the instruments it knows (`[market]`).
    pub market: finpulse_market::domain::MarketSettings,
    /// The recommender and its user-behaviour simulator (`[recommend]`).
    pub recommend: finpulse_recommend::RecommendSettings,
    /// The support desk: retrieval models, demo seeding, the responder's thresholds
    /// (`[support]`).
    pub support: finpulse_support::SupportSettings,
    /// Pages on other origins that may call the API (a bank's site with the chat widget).
    pub cors: crate::http::cors::CorsSettings,
    /// HTTPS and `wss://` on the listener.
    pub tls: crate::tls::TlsSettings,
}

/// What a `finpulse serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Gateway and worker in one process (the embedded default).
    #[default]
    All,
    /// Holds sockets and serves GraphQL; results arrive through the fan-out.
    Gateway,
    /// Runs the processors (and the simulator when enabled) in the Kafka consumer group,
    /// publishing to the fan-out; serves only `/healthz`, `/readyz` and `/metrics`.
    Worker,
}

impl Role {
    /// True when this process serves GraphQL and sockets.
    pub fn serves_clients(self) -> bool {
        matches!(self, Role::All | Role::Gateway)
    }

    /// True when this process runs processors and market sources.
    pub fn runs_processors(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// WebSocket session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Seconds a client has to send `connection_init` before it is closed with 4408.
    pub connection_init_timeout_secs: f64,
    /// Messages that must not be dropped (insights, results) queued per socket before the
    /// client counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// Most concurrent subscriptions per socket.
    pub max_subscriptions: usize,
    /// Seconds between WebSocket pings to detect dead peers.
    pub keepalive_secs: f64,
    /// Kernel send buffer of each accepted connection (`SO_SNDBUF`); unset leaves the kernel's
    /// auto-tuning, which lets a stalled reader hold megabytes before the outbound queue sees
    /// it. Setting it bounds memory per socket and makes slow consumers visible sooner.
    pub socket_send_buffer_bytes: Option<usize>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            connection_init_timeout_secs: 10.0,
            outbound_queue: 1024,
            max_subscriptions: 200,
            keepalive_secs: 20.0,
            socket_send_buffer_bytes: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from(".finpulse"),
            database_url: None,
            kafka_brokers: None,
            kafka: KafkaConfig::default(),
            redis_url: None,
            redis_tls: RedisTlsFiles::default(),
            fanout: FanOutConfig::default(),
            role: Role::All,
            cache: CacheSettings::default(),
            inference: InferenceSettings::default(),
            log_level: "info".into(),
            log_format: LogFormat::Pretty,
            auth: AuthConfig::default(),
            websocket: WebSocketConfig::default(),
            graphql: QueryLimits::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            market: Default::default(),
            recommend: finpulse_recommend::RecommendSettings::default(),
            support: finpulse_support::SupportSettings::default(),
            cors: crate::http::cors::CorsSettings::default(),
            tls: crate::tls::TlsSettings::default(),
        }
    }
}

/// A finite number above zero (NaN, which every comparison refuses, is not).
fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// Keys that moved into their domain's section, and where they went.
const MOVED_KEYS: &[(&str, &str)] = &[
    (
        "simulator",
        "market.simulator (FINPULSE_MARKET__SIMULATOR__…)",
    ),
    (
        "instruments",
        "market.instruments (FINPULSE_MARKET__INSTRUMENTS)",
    ),
];

/// `message`, with where a moved key went when it names one.
fn moved_keys_hint(message: String) -> String {
    for (key, moved_to) in MOVED_KEYS {
        if message.contains(&format!("unknown field: found `{key}`")) {
            return format!("{message}; `{key}` moved to {moved_to}");
        }
    }
    message
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads defaults, then `file` (or `finpulse.toml` if it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("finpulse.toml")),
        }
        // FINPULSE_CONFIG names the file (the CLI reads it); it is not a setting.
        figment = figment.merge(Env::prefixed("FINPULSE_").ignore(&["config"]).split("__"));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError(moved_keys_hint(e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense, each with a message naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: &str| Err(ConfigError(message.to_owned()));
        self.kafka.security.validate().map_err(ConfigError)?;
        if self.log.partitions < 1 {
            return fail("log.partitions must be at least 1");
        }
        if self.log.partition_capacity < 16 {
            return fail("log.partition_capacity must be at least 16");
        }
        if self
            .kafka_brokers
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            return fail("kafka_brokers must not be empty when set");
        }
        if self.role != Role::All && (self.kafka_brokers.is_none() || self.redis_url.is_none()) {
            return fail(
                "roles gateway and worker need kafka_brokers and redis_url (the in-process log \
                 and fan-out only work within one process: use role all)",
            );
        }
        if !(0.0..=1000.0).contains(&self.inference.max_wait_ms)
            || self.inference.max_batch < 1
            || self.inference.queue < 1
        {
            return fail("inference.max_wait_ms must be 0 to 1000, max_batch and queue at least 1");
        }
        if !positive(self.inference.timeout_secs) {
            return fail("inference.timeout_secs must be positive");
        }
        if self.fanout.capacity < 1 || self.fanout.max_channels < 1 {
            return fail("fanout.capacity and fanout.max_channels must be at least 1");
        }
        let ws = &self.websocket;
        if ws.outbound_queue < 1 || ws.max_subscriptions < 1 {
            return fail(
                "websocket.outbound_queue and websocket.max_subscriptions must be at least 1",
            );
        }
        if !positive(ws.connection_init_timeout_secs) {
            return fail("websocket.connection_init_timeout_secs must be positive");
        }
        if !(ws.keepalive_secs >= 1.0 && ws.keepalive_secs <= 3600.0) {
            return fail("websocket.keepalive_secs must be 1 to 3600");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(ConfigError(format!(
                "log_level `{}` is not a tracing filter (try `info` or `finpulse=debug,info`)",
                self.log_level
            )));
        }
        if self
            .auth
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < crate::auth::MIN_SECRET_BYTES)
        {
            return Err(ConfigError(format!(
                "auth.jwt_secret must be at least {} bytes (openssl rand -hex 32 makes one)",
                crate::auth::MIN_SECRET_BYTES
            )));
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > crate::auth::MAX_TTL_SECS {
            return Err(ConfigError(format!(
                "auth.token_ttl_secs must be 1 to {}",
                crate::auth::MAX_TTL_SECS
            )));
        }
        self.graphql.validate().map_err(ConfigError)?;
        // Each domain checks its own section.
        use finpulse_domain::Settings as _;
        self.market.validate().map_err(ConfigError)?;
        self.recommend.validate().map_err(ConfigError)?;
        self.support.validate().map_err(ConfigError)?;
        self.cors.validate().map_err(ConfigError)?;
        self.tls.validate().map_err(ConfigError)?;
        if let Some(oidc) = &self.auth.oidc {
            oidc.validate().map_err(ConfigError)?;
        }
        if let Some(problem) = self.limits.validate() {
            return fail(problem);
        }
        Ok(())
    }

    /// What development tokens this process serves, or why it serves none. They are served
    /// only while the embedded default is in force on this machine alone: one process
    /// (`role = "all"`) on the in-process log and fan-out, bound to a loopback address, with
    /// tokens signed by the generated secret (no configured `auth.jwt_secret`, no identity
    /// provider's JWKS), and `auth.dev_tokens` not `false`. Anyone who can reach a server that
    /// serves them may act as any user, so a server others can reach never does.
    pub fn dev_tokens(&self) -> Result<DevTokens, &'static str> {
        if self.auth.dev_tokens == DevTokens::Off {
            return Err("auth.dev_tokens is false");
        }
        if !self.listen.ip().is_loopback() {
            return Err("the listener is not bound to a loopback address");
        }
        if self.role != Role::All || self.kafka_brokers.is_some() || self.redis_url.is_some() {
            return Err("this is not the embedded single-process default");
        }
        if self.auth.jwt_secret.is_some()
            || self.auth.jwks_path.is_some()
            || self.auth.oidc.is_some()
        {
            return Err("tokens are signed by a configured secret or an identity provider");
        }
        Ok(self.auth.dev_tokens)
    }

    /// The store connection string, defaulting to SQLite in the data folder.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("finpulse.db").display()))
    }
}

#[cfg(test)]
mod tests;
