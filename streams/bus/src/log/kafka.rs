//! The event log on Kafka (or any broker speaking its protocol), through `rdkafka`.
//!
//! - Topics are created on start-up with the configured partitions (`ensure_topic`).
//! - The producer is idempotent: a retried send is written once, and order per key holds.
//! - Consumers join a group with automatic commits off: `commit` stores the offset after the
//!   record was processed (at-least-once), asynchronously so it never blocks the runtime.
//! - Calls that block inside librdkafka (metadata, watermarks, committed offsets) run on the
//!   blocking pool, never on the async runtime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::{Consumer, EventLog, Position, Record};
use crate::StreamError;

/// How to reach the brokers, and the client settings that matter for latency and failover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Longest a fetch waits for data at the broker (`fetch.wait.max.ms`): end-to-end latency
    /// against broker load.
    pub fetch_wait_max_ms: u32,
    /// A member silent this long leaves its group and its partitions move (`session.timeout.ms`).
    pub session_timeout_ms: u32,
    /// `heartbeat.interval.ms`; a third of the session timeout or less.
    pub heartbeat_interval_ms: u32,
    /// Replication factor of topics this process creates.
    pub replication: i32,
    /// Longest gap between polls before a member counts as stuck (`max.poll.interval.ms`); also
    /// how long a rebalance waits for members that have not rejoined, so it bounds how long a
    /// member that left uncleanly can hold up its group.
    pub max_poll_interval_ms: u32,
    /// TLS and SASL to the brokers (`[kafka.security]`).
    pub security: KafkaSecurity,
}

/// `security.protocol` of librdkafka.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No encryption, no authentication (a private network only).
    #[default]
    Plaintext,
    /// TLS, the brokers' certificates checked (and the host name in them).
    Ssl,
    /// SASL authentication without encryption.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// How clients prove who they are to the brokers and check who the brokers are.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSecurity {
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub protocol: SecurityProtocol,
    /// CAs the brokers' certificates chain to, PEM (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// The client certificate, PEM, for brokers that check clients (`ssl.client.auth=required`).
    pub client_cert: Option<PathBuf>,
    /// Its key, PEM.
    pub client_key: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    /// The SASL user.
    pub sasl_username: Option<String>,
    /// The SASL password (never written back out).
    #[serde(skip_serializing)]
    pub sasl_password: Option<String>,
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// SASL mechanisms this build speaks (GSSAPI/Kerberos and OAUTHBEARER are not built in).
const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl KafkaSecurity {
    /// The first problem with the settings, named.
    pub fn validate(&self) -> Result<(), String> {
        let tls_files = [&self.ca_file, &self.client_cert, &self.client_key];
        if !self.protocol.uses_tls() && tls_files.iter().any(|f| f.is_some()) {
            return Err(format!(
                "kafka.security: ca_file and client certificates need protocol ssl or sasl_ssl, not {}",
                self.protocol.as_str()
            ));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err("kafka.security.client_cert and client_key go together".into());
        }
        for path in tls_files.into_iter().flatten() {
            if !path.is_file() {
                return Err(format!("kafka.security: {} is not a file", path.display()));
            }
        }
        let sasl_set = self.sasl_mechanism.is_some()
            || self.sasl_username.is_some()
            || self.sasl_password.is_some();
        match (self.protocol.uses_sasl(), sasl_set) {
            (false, true) => Err(format!(
                "kafka.security: SASL settings need protocol sasl_plaintext or sasl_ssl, not {}",
                self.protocol.as_str()
            )),
            (true, _) => {
                let mechanism = self.sasl_mechanism.as_deref().unwrap_or("PLAIN");
                if !SASL_MECHANISMS.contains(&mechanism) {
                    return Err(format!(
                        "kafka.security.sasl_mechanism `{mechanism}` is not one of {}",
                        SASL_MECHANISMS.join(", ")
                    ));
                }
                if self.sasl_username.is_none() || self.sasl_password.is_none() {
                    return Err("kafka.security: SASL needs sasl_username and sasl_password".into());
                }
                Ok(())
            }
            (false, false) => Ok(()),
        }
    }

    /// Puts the settings on a client's configuration.
    fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", self.protocol.as_str());
        let path = |p: &PathBuf| p.display().to_string();
        if let Some(ca) = &self.ca_file {
            config.set("ssl.ca.location", path(ca));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            config.set("ssl.certificate.location", path(cert));
            config.set("ssl.key.location", path(key));
        }
        if self.protocol.uses_tls() {
            // The broker's host name must be in its certificate (librdkafka's default since
            // 2.0, said here so no older default or a copied config turns it off).
            config.set("ssl.endpoint.identification.algorithm", "https");
        }
        if self.protocol.uses_sasl() {
            config.set(
                "sasl.mechanisms",
                self.sasl_mechanism.as_deref().unwrap_or("PLAIN"),
            );
            if let Some(user) = &self.sasl_username {
                config.set("sasl.username", user);
            }
            if let Some(password) = &self.sasl_password {
                config.set("sasl.password", password);
            }
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            fetch_wait_max_ms: 10,
            session_timeout_ms: 6_000,
            heartbeat_interval_ms: 1_000,
            replication: 1,
            max_poll_interval_ms: 300_000,
            security: KafkaSecurity::default(),
        }
    }
}

/// How long metadata and offset queries may take before they count as failed.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

fn kafka_error(what: &str, error: KafkaError) -> StreamError {
    StreamError::Backend(format!("{what}: {error}"))
}

/// [`EventLog`] on Kafka.
#[derive(Clone)]
pub struct KafkaLog {
    config: KafkaConfig,
    producer: FutureProducer,
    admin: Arc<AdminClient<DefaultClientContext>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.config.brokers)
            .finish()
    }
}

impl KafkaLog {
    /// Creates the producer and admin clients (connections are made lazily).
    pub fn new(config: KafkaConfig) -> Result<Self, StreamError> {
        config.security.validate().map_err(StreamError::Backend)?;
        let mut producer = ClientConfig::new();
        producer
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000");
        config.security.apply(&mut producer);
        let producer = producer
            .create()
            .map_err(|e| kafka_error("failed to create the Kafka producer", e))?;
        let mut admin = ClientConfig::new();
        admin.set("bootstrap.servers", &config.brokers);
        config.security.apply(&mut admin);
        let admin = admin
            .create()
            .map_err(|e| kafka_error("failed to create the Kafka admin client", e))?;
        Ok(Self {
            config,
            producer,
            admin: Arc::new(admin),
        })
    }

    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                self.config.fetch_wait_max_ms.to_string(),
            )
            .set(
                "session.timeout.ms",
                self.config.session_timeout_ms.to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                self.config.heartbeat_interval_ms.to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.config.max_poll_interval_ms.to_string(),
            );
        self.config.security.apply(&mut config);
        config
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    fn is_durable(&self) -> bool {
        true
    }

    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), StreamError> {
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let results = self
            .admin
            .create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(QUERY_TIMEOUT)),
            )
            .await
            .map_err(|e| kafka_error("failed to create topic", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(StreamError::Backend(format!(
                        "failed to create topic {name}: {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    async fn append(
        &self,
        topic: &str,
        key: &str,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        let record = FutureRecord::to(topic).key(key).payload(payload.as_ref());
        // Waits (backpressure) while the producer queue is full rather than failing.
        match self.producer.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => Ok(Position {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((error, _)) => Err(kafka_error("failed to append to Kafka", error)),
        }
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, StreamError> {
        let consumer: StreamConsumer = self
            .consumer_config(group)
            .create()
            .map_err(|e| kafka_error("failed to create the Kafka consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error("failed to subscribe", e))?;
        Ok(Box::new(KafkaConsumer {
            consumer: Arc::new(consumer),
            topic: topic.to_owned(),
            committed: HashMap::new(),
            lag: Arc::new(AtomicI64::new(0)),
            lag_refreshed: None,
        }))
    }

    async fn is_ready(&self) -> bool {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    async fn group_lag(&self, topic: &str, group: &str) -> Result<i64, StreamError> {
        let probe: BaseConsumer = self
            .consumer_config(group)
            .create()
            .map_err(|e| kafka_error("failed to create a Kafka probe", e))?;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = probe
                .fetch_metadata(Some(&topic), QUERY_TIMEOUT)
                .map_err(|e| kafka_error("failed to read topic metadata", e))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                return Err(StreamError::UnknownTopic(topic));
            }
            let mut wanted = TopicPartitionList::new();
            for partition in &partitions {
                wanted.add_partition(&topic, *partition);
            }
            let committed = probe
                .committed_offsets(wanted, QUERY_TIMEOUT)
                .map_err(|e| kafka_error("failed to read committed offsets", e))?;
            let mut lag = 0;
            for partition in partitions {
                let (low, high) = probe
                    .fetch_watermarks(&topic, partition, QUERY_TIMEOUT)
                    .map_err(|e| kafka_error("failed to read watermarks", e))?;
                let done = match committed
                    .find_partition(&topic, partition)
                    .map(|p| p.offset())
                {
                    Some(Offset::Offset(offset)) => offset,
                    _ => low,
                };
                lag += (high - done).max(0);
            }
            Ok(lag)
        })
        .await
        .map_err(|e| StreamError::Backend(format!("lag query panicked: {e}")))?
    }
}

/// A member of a Kafka consumer group.
struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
    topic: String,
    /// Next offset to read per partition, as committed by this member.
    committed: HashMap<i32, i64>,
    /// Lag over this member's partitions, refreshed in the background at most once a second.
    lag: Arc<AtomicI64>,
    lag_refreshed: Option<Instant>,
}

impl KafkaConsumer {
    fn to_record(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
        Record {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(Bytes::copy_from_slice),
            payload: message
                .payload()
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
            appended_at: message
                .timestamp()
                .to_millis()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .unwrap_or_else(Utc::now),
        }
    }

    fn refresh_lag(&mut self) {
        if self
            .lag_refreshed
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.lag_refreshed = Some(Instant::now());
        let (consumer, topic, lag) = (self.consumer.clone(), self.topic.clone(), self.lag.clone());
        let committed = self.committed.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(assignment) = consumer.assignment() else {
                return;
            };
            let mut total = 0;
            for element in assignment.elements_for_topic(&topic) {
                let partition = element.partition();
                if let Ok((low, high)) =
                    consumer.fetch_watermarks(&topic, partition, Duration::from_secs(2))
                {
                    total += (high - committed.get(&partition).copied().unwrap_or(low)).max(0);
                }
            }
            lag.store(total, Ordering::Relaxed);
        });
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, StreamError> {
        let mut records = Vec::new();
        {
            let first = self
                .consumer
                .recv()
                .await
                .map_err(|e| kafka_error("failed to read from Kafka", e))?;
            records.push(self.to_record(&first));
        }
        // Take what is already buffered, without waiting for more.
        while records.len() < max.max(1) {
            match futures::FutureExt::now_or_never(self.consumer.recv()) {
                Some(Ok(message)) => records.push(self.to_record(&message)),
                Some(Err(e)) => {
                    warn!(error = %e, "kafka read error after a batch started");
                    break;
                }
                None => break,
            }
        }
        self.refresh_lag();
        Ok(records)
    }

    async fn commit(&mut self, record: &Record) -> Result<(), StreamError> {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                &record.topic,
                record.partition,
                Offset::Offset(record.offset + 1),
            )
            .map_err(|e| kafka_error("invalid offset", e))?;
        // Async: queued to the broker without blocking; a commit lost in a crash only means the
        // record is delivered again, which processors handle by event id.
        self.consumer
            .commit(&offsets, CommitMode::Async)
            .map_err(|e| kafka_error("failed to commit", e))?;
        self.committed.insert(record.partition, record.offset + 1);
        debug!(
            partition = record.partition,
            offset = record.offset,
            "committed"
        );
        Ok(())
    }

    fn lag(&self) -> i64 {
        self.lag.load(Ordering::Relaxed)
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        // Closing leaves the group (its partitions move at once, not after the session timeout)
        // and blocks until the broker agrees: let the last handle go on the blocking pool.
        // Nothing is committed here: only what `commit` was told is done counts as processed.
        let consumer = self.consumer.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            drop(handle.spawn_blocking(move || drop(consumer)));
        }
    }
}
