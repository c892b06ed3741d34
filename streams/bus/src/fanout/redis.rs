//! Fan-out between gateway replicas through Redis pub/sub.
//!
//! Each replica keeps a [`LocalFanOut`] hub for its own sockets and holds at most one Redis
//! subscription per channel, however many sockets want it: a background task keeps the set of
//! Redis subscriptions equal to the set of hub channels that have local subscribers, and feeds
//! every Redis message into the hub. Each fan-out channel is its own Redis channel
//! (`<prefix>insights.AAPL`), so Redis only sends a replica what its sockets asked for.
//!
//! When the subscription connection drops (Redis restarted, connection killed), the sockets stay
//! open: the task reconnects with backoff, subscribes again, and then tells every local
//! subscriber that messages may have been missed ([`FanOutItem::Lagged`] with 0), so nothing is
//! lost silently. Publishing goes through a separate, auto-reconnecting connection; a failed
//! publish is an error for the caller to count, not a crash.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use prometheus::IntCounter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{FanOut, FanOutItem, LocalFanOut};
use crate::{StreamError, StreamMetrics};

/// How often subscriptions without local subscribers are looked for, besides the prompt check
/// when a subscriber leaves.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Settings of [`RedisFanOut`].
#[derive(Debug, Clone)]
pub struct RedisFanOutConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Put before every channel name in Redis, so deployments sharing a Redis stay apart.
    pub channel_prefix: String,
    /// Messages buffered per local subscriber before it lags.
    pub capacity: usize,
    /// Most channels this replica subscribes to at once (see [`LocalFanOut::with_max_channels`]).
    pub max_channels: usize,
    /// Certificates for `rediss://`.
    pub tls: finpulse_core::redis_tls::RedisTls,
}

/// [`FanOut`] across replicas through Redis pub/sub.
pub struct RedisFanOut {
    hub: LocalFanOut,
    prefix: String,
    publisher: ConnectionManager,
    publish_errors: IntCounter,
    shared: Arc<Shared>,
    task: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// State the subscription task shares with the handles.
struct Shared {
    /// Woken when a channel gains its first or loses its last local subscriber.
    changed: Notify,
    /// True while the subscription connection is up.
    connected: AtomicBool,
    stop: CancellationToken,
}

impl std::fmt::Debug for RedisFanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFanOut")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(what: &str, error: &redis::RedisError) -> StreamError {
    StreamError::Backend(format!("{what}: {error}"))
}

impl RedisFanOut {
    /// Connects to Redis and starts the subscription task; fails if Redis cannot be reached now
    /// (later outages are survived).
    pub async fn connect(
        config: RedisFanOutConfig,
        metrics: &StreamMetrics,
    ) -> Result<Self, StreamError> {
        let client = config
            .tls
            .client(config.url.as_str())
            .map_err(|e| backend("invalid redis url", &e))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2)
            .set_max_delay(1000);
        let publisher = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(|e| backend("failed to connect to redis", &e))?;
        let hub = LocalFanOut::new(config.capacity)
            .with_lag_counter(metrics.lagged.clone())
            .with_max_channels(config.max_channels)
            .with_channel_metrics(metrics.channels.clone(), metrics.refused_channels.clone());
        let shared = Arc::new(Shared {
            changed: Notify::new(),
            connected: AtomicBool::new(false),
            stop: CancellationToken::new(),
        });
        let subscriber = Subscriber {
            client,
            hub: hub.clone(),
            prefix: config.channel_prefix.clone(),
            shared: shared.clone(),
            reconnects: metrics.reconnects.clone(),
        };
        let task = tokio::spawn(subscriber.run());
        info!(prefix = %config.channel_prefix, "redis fan-out connected");
        Ok(Self {
            hub,
            prefix: config.channel_prefix,
            publisher,
            publish_errors: metrics.publish_errors.clone(),
            shared,
            task: parking_lot::Mutex::new(Some(task)),
        })
    }

    /// Wraps a hub subscription so the subscription task hears when it starts (`first`) and
    /// when it ends.
    fn noticed(
        &self,
        stream: BoxStream<'static, FanOutItem>,
        first: bool,
    ) -> BoxStream<'static, FanOutItem> {
        if first {
            self.shared.changed.notify_one();
        }
        LeaveNotice {
            inner: stream,
            shared: self.shared.clone(),
        }
        .boxed()
    }

    /// The per-replica hub (its lag counter can be set before subscribers arrive).
    pub fn hub(&self) -> &LocalFanOut {
        &self.hub
    }

    /// Stops the subscription task and waits for it.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for RedisFanOut {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

#[async_trait]
impl FanOut for RedisFanOut {
    async fn publish(&self, channel: &str, message: Bytes) -> Result<(), StreamError> {
        let mut connection = self.publisher.clone();
        let published: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(format!("{}{channel}", self.prefix))
            .arg(message.as_ref())
            .query_async(&mut connection)
            .await;
        published.map(drop).map_err(|e| {
            self.publish_errors.inc();
            backend("failed to publish to redis", &e)
        })
    }

    fn subscribe(&self, channel: &str) -> BoxStream<'static, FanOutItem> {
        let first = self.hub.local_subscribers(channel) == 0;
        let stream = self.hub.subscribe(channel);
        self.noticed(stream, first)
    }

    fn try_subscribe(&self, channel: &str) -> Result<BoxStream<'static, FanOutItem>, StreamError> {
        let first = self.hub.local_subscribers(channel) == 0;
        let stream = self.hub.try_subscribe(channel)?;
        Ok(self.noticed(stream, first))
    }

    async fn is_ready(&self) -> bool {
        if !self.shared.connected.load(Ordering::Relaxed) {
            return false;
        }
        let mut connection = self.publisher.clone();
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
        pong.is_ok()
    }

    fn local_subscribers(&self, channel: &str) -> usize {
        self.hub.local_subscribers(channel)
    }
}

/// A hub subscription that wakes the subscription task when dropped, so a channel nobody wants
/// any more is unsubscribed promptly rather than at the next sweep.
struct LeaveNotice {
    inner: BoxStream<'static, FanOutItem>,
    shared: Arc<Shared>,
}

impl Stream for LeaveNotice {
    type Item = FanOutItem;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl Drop for LeaveNotice {
    fn drop(&mut self) {
        self.shared.changed.notify_one();
    }
}

/// The background task holding the replica's one subscription connection.
struct Subscriber {
    client: redis::Client,
    hub: LocalFanOut,
    prefix: String,
    shared: Arc<Shared>,
    reconnects: IntCounter,
}

impl Subscriber {
    async fn run(self) {
        let mut backoff = Duration::from_millis(50);
        let mut lost = false;
        while !self.shared.stop.is_cancelled() {
            let connection = tokio::select! {
                _ = self.shared.stop.cancelled() => return,
                connection = self.client.get_async_pubsub() => connection,
            };
            match connection {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(50);
                    let (sink, stream) = pubsub.split();
                    if lost {
                        self.reconnects.inc();
                        info!("redis fan-out subscription connection restored");
                    }
                    let reason = self.serve(sink, stream, lost).await;
                    self.shared.connected.store(false, Ordering::Relaxed);
                    match reason {
                        Ended::Stopped => return,
                        Ended::Lost(why) => {
                            warn!(reason = %why, "redis fan-out subscription connection lost");
                            lost = true;
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "failed to connect redis fan-out subscription");
                    tokio::select! {
                        _ = self.shared.stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Keeps the Redis subscriptions equal to the wanted channels and forwards messages until
    /// the connection drops or the fan-out stops.
    async fn serve(&self, mut sink: PubSubSink, mut stream: PubSubStream, resumed: bool) -> Ended {
        let mut subscribed: HashSet<String> = HashSet::new();
        if let Err(e) = self.sync(&mut sink, &mut subscribed).await {
            return Ended::Lost(e.to_string());
        }
        self.shared.connected.store(true, Ordering::Relaxed);
        if resumed {
            // Anything published while the connection was down never reached this replica.
            for channel in &subscribed {
                self.hub.signal_gap(channel);
            }
        }
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shared.stop.cancelled() => return Ended::Stopped,
                _ = self.shared.changed.notified() => {}
                _ = sweep.tick() => {}
                message = stream.next() => match message {
                    Some(message) => {
                        self.forward(&message);
                        continue;
                    }
                    None => return Ended::Lost("connection closed".into()),
                },
            }
            if let Err(e) = self.sync(&mut sink, &mut subscribed).await {
                return Ended::Lost(e.to_string());
            }
        }
    }

    fn forward(&self, message: &redis::Msg) {
        let Some(channel) = message.get_channel_name().strip_prefix(&self.prefix) else {
            return;
        };
        self.hub
            .send(channel, Bytes::copy_from_slice(message.get_payload_bytes()));
    }

    /// Subscribes to channels that gained local subscribers and unsubscribes from those that
    /// lost them all.
    async fn sync(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<String>,
    ) -> Result<(), redis::RedisError> {
        let wanted: HashSet<String> = self.hub.active_channel_names().into_iter().collect();
        let join: Vec<String> = wanted
            .difference(subscribed)
            .map(|c| format!("{}{c}", self.prefix))
            .collect();
        let leave: Vec<String> = subscribed
            .difference(&wanted)
            .map(|c| format!("{}{c}", self.prefix))
            .collect();
        if !join.is_empty() {
            sink.subscribe(&join).await?;
            debug!(channels = join.len(), "redis fan-out subscribed");
        }
        if !leave.is_empty() {
            sink.unsubscribe(&leave).await?;
            debug!(channels = leave.len(), "redis fan-out unsubscribed");
        }
        *subscribed = wanted;
        Ok(())
    }
}

enum Ended {
    Stopped,
    Lost(String),
}
