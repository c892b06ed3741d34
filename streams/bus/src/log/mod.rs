//! The event log contract: keyed records in partitioned topics, read by consumer groups.
//!
//! The contract every backend keeps (the in-process [`MemoryLog`] now, Kafka beside it):
//! - a record's partition is chosen by its key, so records with one key keep their order;
//! - each consumer group reads every record at least once; members of one group split the
//!   partitions between them;
//! - a consumer commits the offsets it has finished with; a member that joins or takes over a
//!   partition resumes after the last committed offset, so an uncommitted record is delivered
//!   again rather than lost.

mod kafka;
mod memory;
mod namespaced;

pub use kafka::{KafkaConfig, KafkaLog, KafkaSecurity, SecurityProtocol};
pub use memory::{MemoryLog, MemoryLogConfig};
pub use namespaced::Namespaced;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::StreamError;

/// One record as a consumer receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Topic it was appended to.
    pub topic: String,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The partitioning key.
    pub key: Option<Bytes>,
    /// The bytes as appended; decoding is the consumer's business.
    pub payload: Bytes,
    /// When the log accepted it.
    pub appended_at: DateTime<Utc>,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// An append-only, partitioned, keyed log.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Creates `topic` with `partitions` partitions if it does not exist yet.
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), StreamError>;

    /// Appends one record; waits while the log is full (backpressure) rather than dropping.
    async fn append(&self, topic: &str, key: &str, payload: Bytes)
    -> Result<Position, StreamError>;

    /// Joins consumer group `group` on `topic`.
    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, StreamError>;

    /// True when the log accepts appends and reads.
    async fn is_ready(&self) -> bool;

    /// Records of `topic` appended but not yet committed by `group`, over all partitions.
    async fn group_lag(&self, topic: &str, group: &str) -> Result<i64, StreamError>;

    /// True when records and offsets outlive this process (Kafka), so state saved against an
    /// offset means the same thing to the next process; false for the in-process log, whose
    /// offsets start again at 0 on every start.
    fn is_durable(&self) -> bool {
        false
    }
}

/// A member of a consumer group.
///
/// Dropping a consumer leaves the group; its partitions go to the remaining members, which
/// resume at the committed offsets.
#[async_trait]
pub trait Consumer: Send {
    /// Waits until at least one record is available and returns up to `max` of them, in order
    /// per partition. Cancel-safe: a poll dropped before it returns loses nothing.
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, StreamError>;

    /// Marks every record up to and including `record` in its partition as processed.
    async fn commit(&mut self, record: &Record) -> Result<(), StreamError>;

    /// Records appended but not yet committed by this group, over the partitions it owns.
    fn lag(&self) -> i64;
}
