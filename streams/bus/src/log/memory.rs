//! The in-process event log: the embedded default.
//!
//! Each partition is a bounded queue. A record leaves memory only once every consumer group that
//! has joined the topic has committed past it; until then an append to a full partition waits
//! (backpressure on the producer) instead of dropping anything, so delivery is at-least-once
//! within the process. Topics nobody consumes yet evict their oldest records, like a retention
//! limit.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{Consumer, EventLog, Position, Record};
use crate::StreamError;

/// Sizing of the in-process log.
#[derive(Debug, Clone)]
pub struct MemoryLogConfig {
    /// Records held per partition before appends wait.
    pub partition_capacity: usize,
}

impl Default for MemoryLogConfig {
    fn default() -> Self {
        Self {
            partition_capacity: 65_536,
        }
    }
}

#[derive(Debug)]
struct Entry {
    key: Bytes,
    payload: Bytes,
    appended_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offset of `entries[0]`.
    base: i64,
    entries: VecDeque<Entry>,
}

impl Partition {
    fn end(&self) -> i64 {
        self.base + self.entries.len() as i64
    }
}

#[derive(Debug, Default)]
struct Group {
    /// Next offset to read per partition, committed.
    committed: HashMap<i32, i64>,
    /// Member ids in join order; partition `p` belongs to `members[p % len]`.
    members: Vec<u64>,
    /// Bumped on every join or leave, so members know to re-read their assignment.
    generation: u64,
}

#[derive(Debug, Default)]
struct Topic {
    partitions: Vec<Partition>,
    groups: BTreeMap<String, Group>,
}

#[derive(Debug, Default)]
struct State {
    topics: HashMap<String, Topic>,
    next_member: u64,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    config: MemoryLogConfig,
    state: Mutex<State>,
    /// Woken when records are appended or membership changes.
    data: Notify,
    /// Woken when commits free space.
    space: Notify,
}

/// [`EventLog`] held in this process's memory.
#[derive(Debug, Clone)]
pub struct MemoryLog {
    shared: Arc<Shared>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::new(MemoryLogConfig::default())
    }
}

fn partition_for(key: &str, partitions: usize) -> usize {
    // A fixed hasher (not RandomState) so a key maps to the same partition in every run.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % partitions as u64) as usize
}

impl MemoryLog {
    /// An empty log.
    pub fn new(config: MemoryLogConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State::default()),
                data: Notify::new(),
                space: Notify::new(),
            }),
        }
    }

    /// Stops the log: pending and future polls and appends fail with [`StreamError::Closed`].
    pub fn close(&self) {
        self.shared.state.lock().closed = true;
        self.shared.data.notify_waiters();
        self.shared.space.notify_waiters();
    }

    /// Tries to append; `Ok(None)` means the partition is full of unconsumed records.
    fn try_append(
        &self,
        topic_name: &str,
        key: &str,
        payload: &Bytes,
    ) -> Result<Option<Position>, StreamError> {
        let mut state = self.shared.state.lock();
        if state.closed {
            return Err(StreamError::Closed);
        }
        let topic = state
            .topics
            .get_mut(topic_name)
            .ok_or_else(|| StreamError::UnknownTopic(topic_name.to_owned()))?;
        let index = partition_for(key, topic.partitions.len());
        // Everything below the slowest group's committed offset may go.
        let floor = topic
            .groups
            .values()
            .map(|g| g.committed.get(&(index as i32)).copied().unwrap_or(0))
            .min();
        let capacity = self.shared.config.partition_capacity;
        let partition = &mut topic.partitions[index];
        while partition.entries.len() >= capacity {
            match floor {
                Some(floor) if partition.base >= floor => return Ok(None),
                _ => {
                    partition.entries.pop_front();
                    partition.base += 1;
                }
            }
        }
        partition.entries.push_back(Entry {
            key: Bytes::copy_from_slice(key.as_bytes()),
            payload: payload.clone(),
            appended_at: Utc::now(),
        });
        Ok(Some(Position {
            partition: index as i32,
            offset: partition.end() - 1,
        }))
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), StreamError> {
        let mut state = self.shared.state.lock();
        if state.closed {
            return Err(StreamError::Closed);
        }
        state
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| Topic {
                partitions: (0..partitions.max(1))
                    .map(|_| Partition::default())
                    .collect(),
                groups: BTreeMap::new(),
            });
        Ok(())
    }

    async fn append(
        &self,
        topic: &str,
        key: &str,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        loop {
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            if let Some(position) = self.try_append(topic, key, &payload)? {
                self.shared.data.notify_waiters();
                return Ok(position);
            }
            space.await;
        }
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, StreamError> {
        let mut state = self.shared.state.lock();
        if state.closed {
            return Err(StreamError::Closed);
        }
        state.next_member += 1;
        let member = state.next_member;
        let entry = state
            .topics
            .get_mut(topic)
            .ok_or_else(|| StreamError::UnknownTopic(topic.to_owned()))?;
        // A new group starts at the earliest record still held.
        let starts: Vec<(i32, i64)> = entry
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, p.base))
            .collect();
        let group_state = entry
            .groups
            .entry(group.to_owned())
            .or_insert_with(|| Group {
                committed: starts.into_iter().collect(),
                ..Group::default()
            });
        group_state.members.push(member);
        group_state.generation += 1;
        drop(state);
        self.shared.data.notify_waiters();
        Ok(Box::new(MemoryConsumer {
            log: self.clone(),
            topic: topic.to_owned(),
            group: group.to_owned(),
            member,
            generation: 0,
            positions: HashMap::new(),
        }))
    }

    async fn group_lag(&self, topic: &str, group: &str) -> Result<i64, StreamError> {
        let state = self.shared.state.lock();
        let Some(found) = state.topics.get(topic) else {
            return Err(StreamError::UnknownTopic(topic.to_owned()));
        };
        let committed = found.groups.get(group).map(|g| &g.committed);
        Ok((0..found.partitions.len())
            .map(|p| {
                let end = found.partitions[p].end();
                let done = committed
                    .and_then(|c| c.get(&(p as i32)))
                    .copied()
                    .unwrap_or(0);
                end - done
            })
            .sum())
    }

    async fn is_ready(&self) -> bool {
        !self.shared.state.lock().closed
    }
}

/// A group member reading from a [`MemoryLog`].
#[derive(Debug)]
struct MemoryConsumer {
    log: MemoryLog,
    topic: String,
    group: String,
    member: u64,
    /// The group generation `positions` belongs to.
    generation: u64,
    /// Next offset to read per owned partition (may run ahead of the committed offset).
    positions: HashMap<i32, i64>,
}

impl MemoryConsumer {
    fn try_poll(&mut self, max: usize) -> Result<Vec<Record>, StreamError> {
        let state = self.log.shared.state.lock();
        if state.closed {
            return Err(StreamError::Closed);
        }
        let topic = state
            .topics
            .get(&self.topic)
            .ok_or_else(|| StreamError::UnknownTopic(self.topic.clone()))?;
        let group = topic
            .groups
            .get(&self.group)
            .expect("a group exists while it has a member");
        if group.generation != self.generation {
            // Membership changed: take the current assignment and resume at committed offsets.
            self.generation = group.generation;
            let slot = group
                .members
                .iter()
                .position(|m| *m == self.member)
                .expect("a live consumer is a member of its group");
            let members = group.members.len();
            self.positions = (0..topic.partitions.len() as i32)
                .filter(|p| *p as usize % members == slot)
                .map(|p| (p, group.committed.get(&p).copied().unwrap_or(0)))
                .collect();
        }
        let mut records = Vec::new();
        let mut owned: Vec<i32> = self.positions.keys().copied().collect();
        owned.sort_unstable();
        for partition_index in owned {
            let partition = &topic.partitions[partition_index as usize];
            let position = self.positions.get_mut(&partition_index).expect("owned");
            *position = (*position).max(partition.base);
            while *position < partition.end() && records.len() < max {
                let entry = &partition.entries[(*position - partition.base) as usize];
                records.push(Record {
                    topic: self.topic.clone(),
                    partition: partition_index,
                    offset: *position,
                    key: Some(entry.key.clone()),
                    payload: entry.payload.clone(),
                    appended_at: entry.appended_at,
                });
                *position += 1;
            }
        }
        Ok(records)
    }
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, StreamError> {
        let shared = Arc::clone(&self.log.shared);
        loop {
            let data = shared.data.notified();
            tokio::pin!(data);
            data.as_mut().enable();
            let records = self.try_poll(max.max(1))?;
            if !records.is_empty() {
                return Ok(records);
            }
            data.await;
        }
    }

    async fn commit(&mut self, record: &Record) -> Result<(), StreamError> {
        let invalid = || StreamError::InvalidCommit {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        };
        {
            let mut state = self.log.shared.state.lock();
            let topic = state.topics.get_mut(&self.topic).ok_or_else(invalid)?;
            let end = topic
                .partitions
                .get(record.partition as usize)
                .ok_or_else(invalid)?
                .end();
            if record.offset >= end || record.topic != self.topic {
                return Err(invalid());
            }
            let group = topic.groups.get_mut(&self.group).ok_or_else(invalid)?;
            if group.generation != self.generation {
                // The partition may have moved; the new owner re-reads from the last commit.
                return Ok(());
            }
            let committed = group.committed.entry(record.partition).or_insert(0);
            *committed = (*committed).max(record.offset + 1);
        }
        self.log.shared.space.notify_waiters();
        Ok(())
    }

    fn lag(&self) -> i64 {
        let state = self.log.shared.state.lock();
        let Some(topic) = state.topics.get(&self.topic) else {
            return 0;
        };
        let Some(group) = topic.groups.get(&self.group) else {
            return 0;
        };
        self.positions
            .keys()
            .map(|p| {
                let end = topic.partitions[*p as usize].end();
                end - group.committed.get(p).copied().unwrap_or(0)
            })
            .sum()
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        let mut state = self.log.shared.state.lock();
        if let Some(group) = state
            .topics
            .get_mut(&self.topic)
            .and_then(|t| t.groups.get_mut(&self.group))
        {
            group.members.retain(|m| *m != self.member);
            group.generation += 1;
        }
        drop(state);
        self.log.shared.data.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn log_with_topic(partitions: i32, capacity: usize) -> MemoryLog {
        let log = MemoryLog::new(MemoryLogConfig {
            partition_capacity: capacity,
        });
        log.ensure_topic("t", partitions).await.unwrap();
        log
    }

    #[tokio::test]
    async fn keys_keep_their_order_and_partition() {
        let log = log_with_topic(4, 100).await;
        let mut consumer = log.consumer("t", "g").await.unwrap();
        for i in 0..20 {
            let key = if i % 2 == 0 { "AAPL" } else { "MSFT" };
            log.append("t", key, Bytes::from(format!("{key}-{i}")))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 20 {
            seen.extend(consumer.poll(7).await.unwrap());
        }
        for key in ["AAPL", "MSFT"] {
            let mine: Vec<_> = seen
                .iter()
                .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
                .collect();
            assert_eq!(mine.len(), 10);
            assert!(mine.windows(2).all(|w| w[0].offset < w[1].offset));
            assert!(mine.iter().all(|r| r.partition == mine[0].partition));
        }
    }

    #[tokio::test]
    async fn uncommitted_records_are_redelivered_to_the_next_member() {
        let log = log_with_topic(1, 100).await;
        let mut first = log.consumer("t", "g").await.unwrap();
        for i in 0..5 {
            log.append("t", "k", Bytes::from(vec![i])).await.unwrap();
        }
        let records = first.poll(10).await.unwrap();
        assert_eq!(records.len(), 5);
        first.commit(&records[1]).await.unwrap();
        drop(first);
        let mut second = log.consumer("t", "g").await.unwrap();
        let again = second.poll(10).await.unwrap();
        let offsets: Vec<i64> = again.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![2, 3, 4]);
    }

    #[tokio::test]
    async fn group_lag_counts_what_a_group_has_not_committed() {
        let log = log_with_topic(3, 100).await;
        for i in 0..6 {
            log.append("t", &format!("k{i}"), Bytes::new())
                .await
                .unwrap();
        }
        assert_eq!(log.group_lag("t", "g").await.unwrap(), 6);
        let mut consumer = log.consumer("t", "g").await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.extend(consumer.poll(10).await.unwrap());
        }
        let first = seen.iter().find(|r| r.offset == 0).unwrap();
        consumer.commit(first).await.unwrap();
        assert_eq!(log.group_lag("t", "g").await.unwrap(), 5);
        for record in &seen {
            consumer.commit(record).await.unwrap();
        }
        assert_eq!(log.group_lag("t", "g").await.unwrap(), 0);
        assert_eq!(log.group_lag("t", "other").await.unwrap(), 6);
        assert!(log.group_lag("nope", "g").await.is_err());
    }

    #[tokio::test]
    async fn groups_are_independent_and_members_split_partitions() {
        let log = log_with_topic(4, 100).await;
        let mut a = log.consumer("t", "g").await.unwrap();
        let mut b = log.consumer("t", "g").await.unwrap();
        let mut other = log.consumer("t", "h").await.unwrap();
        for i in 0..40 {
            log.append("t", &format!("k{i}"), Bytes::from(vec![i]))
                .await
                .unwrap();
        }
        let from_a = a.poll(100).await.unwrap();
        let from_b = b.poll(100).await.unwrap();
        assert_eq!(from_a.len() + from_b.len(), 40);
        assert!(
            from_a
                .iter()
                .all(|r| from_b.iter().all(|s| s.partition != r.partition))
        );
        assert_eq!(other.poll(100).await.unwrap().len(), 40);
    }

    #[tokio::test]
    async fn a_full_partition_applies_backpressure_until_a_commit() {
        let log = log_with_topic(1, 2).await;
        let mut consumer = log.consumer("t", "g").await.unwrap();
        log.append("t", "k", Bytes::from_static(b"1"))
            .await
            .unwrap();
        log.append("t", "k", Bytes::from_static(b"2"))
            .await
            .unwrap();
        let blocked = tokio::spawn({
            let log = log.clone();
            async move { log.append("t", "k", Bytes::from_static(b"3")).await }
        });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished());
        let records = consumer.poll(10).await.unwrap();
        consumer.commit(&records[0]).await.unwrap();
        let position = blocked.await.unwrap().unwrap();
        assert_eq!(position.offset, 2);
        let rest = consumer.poll(10).await.unwrap();
        let payloads: Vec<&[u8]> = rest.iter().map(|r| r.payload.as_ref()).collect();
        assert_eq!(payloads, vec![b"3".as_ref()]);
    }

    #[tokio::test]
    async fn close_wakes_waiting_pollers() {
        let log = log_with_topic(1, 2).await;
        let mut consumer = log.consumer("t", "g").await.unwrap();
        let waiting = tokio::spawn(async move { consumer.poll(1).await });
        tokio::task::yield_now().await;
        log.close();
        assert!(matches!(waiting.await.unwrap(), Err(StreamError::Closed)));
    }

    #[tokio::test]
    async fn unknown_topics_are_errors() {
        let log = MemoryLog::default();
        assert!(matches!(
            log.append("nope", "k", Bytes::new()).await,
            Err(StreamError::UnknownTopic(_))
        ));
    }
}
