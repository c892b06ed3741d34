//! Opening the configured backends: the store (behind the Redis cache when set), the event log
//! (Kafka or in-process), the fan-out (Redis or in-process), the models, and the listener.

use std::sync::Arc;

use anyhow::Context;
use finpulse_bus::log::{KafkaLog, Namespaced};
use finpulse_bus::{EventLog, FanOut, LocalFanOut, MemoryLog, RedisFanOut, StreamMetrics};
use finpulse_graph::ai::AiContext;
use finpulse_inference::{Inference, InferenceMetrics, Manifest, ModelInfo};
use finpulse_remote_inference::RemoteEmbeddings;
use finpulse_store::{CachedMarketData, Repositories, SqlStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::metrics::GatewayMetrics;

/// Opens the configured store, applies migrations, and puts the Redis cache in front of market
/// data when `redis_url` is set and the cache enabled.
pub async fn open_repositories(
    config: &Config,
    metrics: &GatewayMetrics,
) -> anyhow::Result<Repositories> {
    let repositories = Repositories::of(open_store(config).await?);
    match &config.redis_url {
        Some(url) if config.cache.enabled => {
            let cached = CachedMarketData::connect(
                repositories.market.clone(),
                config.cache.store_config(url, config.redis_tls.load()?),
            )
            .await
            .context("failed to set up the Redis cache")?
            .with_metrics(metrics.cache_requests.clone());
            info!(
                ttl_secs = config.cache.ttl_secs,
                "market data: cached in redis"
            );
            Ok(repositories.with_market(Arc::new(cached)))
        }
        _ => Ok(repositories),
    }
}

/// Opens the configured store and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url();
    if url.starts_with("sqlite:") && !url.contains(":memory:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
    }
    let store = SqlStore::connect(&url)
        .await
        .with_context(|| format!("failed to open the store at {url}"))?;
    store
        .migrate()
        .await
        .context("failed to migrate the store")?;
    Ok(store)
}

/// The configured event log: Kafka when brokers are set, the in-process log otherwise; inside
/// `log.namespace` when one is set.
pub fn open_log(config: &Config) -> anyhow::Result<(Arc<dyn EventLog>, Option<MemoryLog>)> {
    fn within<L: EventLog>(log: L, namespace: Option<&str>) -> Arc<dyn EventLog> {
        match namespace {
            Some(namespace) => Arc::new(Namespaced::new(log, namespace)),
            None => Arc::new(log),
        }
    }
    let namespace = config.log.namespace.as_deref();
    match &config.kafka_brokers {
        Some(brokers) => {
            let kafka = KafkaLog::new(config.kafka_config(brokers))
                .context("failed to set up the Kafka event log")?;
            info!(%brokers, "event log: kafka");
            Ok((within(kafka, namespace), None))
        }
        None => {
            let memory = MemoryLog::new(config.log.memory_config());
            Ok((within(memory.clone(), namespace), Some(memory)))
        }
    }
}

/// Loads the models of the manifest (checksums, ONNX Runtime, sessions) off the runtime.
pub async fn load_models(config: &Config, metrics: &GatewayMetrics) -> anyhow::Result<Inference> {
    let inference_config = config.inference.models_config();
    let inference_metrics = InferenceMetrics::register(&metrics.registry)
        .context("failed to register inference metrics")?;
    let inference =
        tokio::task::spawn_blocking(move || Inference::load(&inference_config, &inference_metrics))
            .await
            .context("model loading panicked")?
            .context("failed to load the models (inference.enabled = false runs without them)")?;
    info!(models = inference.models().len(), "models loaded");
    Ok(inference)
}

/// The models for an offline command (training, evaluation): loaded off the runtime, their
/// metrics counted nowhere. The caller says in its error what it needed them for.
pub async fn load_offline_models(
    config: &Config,
) -> anyhow::Result<Result<Inference, finpulse_inference::InferenceError>> {
    let inference_config = config.inference.models_config();
    tokio::task::spawn_blocking(move || {
        Inference::load(&inference_config, &InferenceMetrics::unregistered())
    })
    .await
    .context("model loading panicked")
}

/// The AI context of a gateway whose models run on the inference workers: metadata from the
/// manifest (no model files needed here), embeddings through the log; and the task listening
/// for replies, to be awaited on shutdown.
pub fn remote_models(
    config: &Config,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    shutdown: CancellationToken,
) -> anyhow::Result<(AiContext, tokio::task::JoinHandle<()>)> {
    let manifest = Manifest::load(&config.inference.manifest)?;
    let models: Vec<ModelInfo> = manifest.models.iter().map(ModelInfo::from).collect();
    let first = models
        .first()
        .cloned()
        .context("the model manifest lists no model")?;
    let timeout = std::time::Duration::from_secs_f64(config.inference.timeout_secs);
    let (embeddings, listener) = RemoteEmbeddings::start(log, fanout, first, timeout, shutdown);
    info!("models: on the inference workers");
    let ai = AiContext {
        embeddings: Arc::new(embeddings),
        models,
        budget: None,
    };
    Ok((ai, listener))
}

/// The configured fan-out: Redis pub/sub when `redis_url` is set, in-process otherwise.
pub async fn open_fanout(
    config: &Config,
    metrics: &StreamMetrics,
) -> anyhow::Result<(Arc<dyn FanOut>, Option<Arc<RedisFanOut>>)> {
    match &config.redis_url {
        Some(url) => {
            let redis = RedisFanOut::connect(
                config.fanout.redis_config(url, config.redis_tls.load()?),
                metrics,
            )
            .await
            .context("failed to set up the Redis fan-out")?;
            info!(prefix = %config.fanout.channel_prefix, "fan-out: redis");
            let redis = Arc::new(redis);
            Ok((redis.clone(), Some(redis)))
        }
        None => Ok((
            Arc::new(
                LocalFanOut::new(config.fanout.capacity)
                    .with_lag_counter(metrics.lagged.clone())
                    .with_max_channels(config.fanout.max_channels)
                    .with_channel_metrics(
                        metrics.channels.clone(),
                        metrics.refused_channels.clone(),
                    ),
            ),
            None,
        )),
    }
}

/// Pending connections the kernel queues before `accept`. tokio's default (1024) overflows when
/// thousands of clients reconnect at once (after a deploy, say): the overflowing SYNs are
/// retried only a second later. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

pub fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}
