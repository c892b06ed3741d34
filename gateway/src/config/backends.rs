//! The settings of the backends: the fan-out, the Redis cache, the event log, TLS to Redis and
//! the models, each mapped once into the configuration type of the crate it is for.

use std::path::PathBuf;

use finpulse_bus::RedisFanOutConfig;
use finpulse_bus::log::{KafkaConfig, MemoryLogConfig};
use finpulse_inference::InferenceConfig;
use finpulse_store::CacheConfig;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// Fan-out settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FanOutConfig {
    /// Put before every Redis channel name, so deployments sharing a Redis stay apart.
    pub channel_prefix: String,
    /// Messages buffered per local subscriber before it counts as lagging.
    pub capacity: usize,
    /// Most channels (distinct symbols × kinds, watchlists) this replica holds at once; a
    /// subscription that would open one more is refused with `UNAVAILABLE`.
    pub max_channels: usize,
}

impl Default for FanOutConfig {
    fn default() -> Self {
        Self {
            channel_prefix: "finpulse:".into(),
            capacity: 1024,
            max_channels: 20_000,
        }
    }
}

/// Model settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceSettings {
    /// Load the models of the manifest (gateways); off, `summarize` answers UNAVAILABLE.
    pub enabled: bool,
    /// The model manifest; its files are fetched by `scripts/setup-models.sh`.
    pub manifest: PathBuf,
    /// Threads ONNX Runtime uses inside one model run.
    pub intra_threads: usize,
    /// Most texts in one model run.
    pub max_batch: usize,
    /// Milliseconds the first request of a batch waits for others to join.
    pub max_wait_ms: f64,
    /// Requests queued per model before new ones are refused.
    pub queue: usize,
    /// Run the models on the workers, not in the gateways: gateways put requests on the log
    /// (`inference.requests`), workers answer through the fan-out.
    pub remote: bool,
    /// Seconds a gateway waits for a remote answer before UNAVAILABLE.
    pub timeout_secs: f64,
}

impl Default for InferenceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            manifest: PathBuf::from("models.toml"),
            intra_threads: 2,
            max_batch: 32,
            max_wait_ms: 0.0,
            queue: 1024,
            remote: false,
            timeout_secs: 10.0,
        }
    }
}

/// Redis cache settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Cache quotes and latest insights in Redis when `redis_url` is set.
    pub enabled: bool,
    /// Put before every cache key.
    pub key_prefix: String,
    /// Seconds a cached value lives at most (writes invalidate sooner).
    pub ttl_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            key_prefix: "finpulse:cache:".into(),
            ttl_secs: 30,
        }
    }
}

/// Event log settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Partitions per topic.
    pub partitions: i32,
    /// Records held per partition in the in-process log before producers wait.
    pub partition_capacity: usize,
    /// Prefix of every topic and consumer group (`<namespace>.market.ticks`), so deployments
    /// or test runs sharing a broker stay apart.
    pub namespace: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            partitions: 8,
            partition_capacity: 65_536,
            namespace: None,
        }
    }
}

/// `[redis_tls]`: certificates for `rediss://` (PEM files, read at start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisTlsFiles {
    /// CAs the server's certificate may chain to, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// The client certificate, for a server that checks clients (`tls-auth-clients yes`).
    pub client_cert: Option<PathBuf>,
    /// Its key.
    pub client_key: Option<PathBuf>,
}

impl RedisTlsFiles {
    /// The files' contents; an unreadable one, or a certificate without its key, is an error
    /// naming it.
    pub fn load(&self) -> Result<finpulse_core::redis_tls::RedisTls, ConfigError> {
        let read = |what: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| {
                ConfigError(format!(
                    "failed to read redis_tls.{what} {}: {e}",
                    path.display()
                ))
            })
        };
        let client = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some((read("client_cert", cert)?, read("client_key", key)?)),
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "redis_tls.client_cert and redis_tls.client_key go together".into(),
                ));
            }
        };
        Ok(finpulse_core::redis_tls::RedisTls {
            ca_pem: self
                .ca_file
                .as_ref()
                .map(|p| read("ca_file", p))
                .transpose()?,
            client,
        })
    }
}

// The one mapping of each setting group into the configuration type of the crate it is for.

impl FanOutConfig {
    /// The Redis fan-out's settings, at `url`.
    pub fn redis_config(
        &self,
        url: &str,
        tls: finpulse_core::redis_tls::RedisTls,
    ) -> RedisFanOutConfig {
        RedisFanOutConfig {
            url: url.to_owned(),
            channel_prefix: self.channel_prefix.clone(),
            capacity: self.capacity,
            max_channels: self.max_channels,
            tls,
        }
    }
}

impl CacheSettings {
    /// The store cache's settings, at `url`.
    pub fn store_config(&self, url: &str, tls: finpulse_core::redis_tls::RedisTls) -> CacheConfig {
        CacheConfig {
            url: url.to_owned(),
            key_prefix: self.key_prefix.clone(),
            ttl_secs: self.ttl_secs,
            tls,
        }
    }
}

impl LogConfig {
    /// The in-process log's settings.
    pub fn memory_config(&self) -> MemoryLogConfig {
        MemoryLogConfig {
            partition_capacity: self.partition_capacity,
        }
    }
}

impl InferenceSettings {
    /// The inference crate's settings of the models.
    pub fn models_config(&self) -> InferenceConfig {
        InferenceConfig {
            manifest: self.manifest.clone(),
            intra_threads: self.intra_threads,
            max_batch: self.max_batch,
            max_wait: std::time::Duration::from_secs_f64(self.max_wait_ms / 1000.0),
            queue: self.queue,
        }
    }
}

impl Config {
    /// The Kafka log's settings, with `brokers`.
    pub fn kafka_config(&self, brokers: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.to_owned(),
            ..self.kafka.clone()
        }
    }
}
