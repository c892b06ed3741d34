//! A view of a log in which every topic and consumer group carries a prefix, so that several
//! deployments (or test runs) can share one broker without seeing each other's events.

use async_trait::async_trait;
use bytes::Bytes;

use super::{Consumer, EventLog, Position, Record};
use crate::StreamError;

/// [`EventLog`] whose topics and groups are `<namespace>.<name>` in the log underneath.
pub struct Namespaced<L> {
    inner: L,
    prefix: String,
}

impl<L> Namespaced<L> {
    /// Prefixes every topic and group of `inner` with `namespace.`.
    pub fn new(inner: L, namespace: &str) -> Self {
        Self {
            inner,
            prefix: format!("{namespace}."),
        }
    }

    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

struct NamespacedConsumer {
    inner: Box<dyn Consumer>,
    prefix: String,
}

#[async_trait]
impl Consumer for NamespacedConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, StreamError> {
        let mut records = self.inner.poll(max).await?;
        for record in &mut records {
            if let Some(bare) = record.topic.strip_prefix(&self.prefix) {
                record.topic = bare.to_owned();
            }
        }
        Ok(records)
    }

    async fn commit(&mut self, record: &Record) -> Result<(), StreamError> {
        let mut full = record.clone();
        full.topic = format!("{}{}", self.prefix, record.topic);
        self.inner.commit(&full).await
    }

    fn lag(&self) -> i64 {
        self.inner.lag()
    }
}

#[async_trait]
impl<L: EventLog> EventLog for Namespaced<L> {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), StreamError> {
        self.inner.ensure_topic(&self.name(topic), partitions).await
    }

    async fn append(
        &self,
        topic: &str,
        key: &str,
        payload: Bytes,
    ) -> Result<Position, StreamError> {
        self.inner.append(&self.name(topic), key, payload).await
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>, StreamError> {
        let inner = self
            .inner
            .consumer(&self.name(topic), &self.name(group))
            .await?;
        Ok(Box::new(NamespacedConsumer {
            inner,
            prefix: self.prefix.clone(),
        }))
    }

    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }

    async fn is_ready(&self) -> bool {
        self.inner.is_ready().await
    }

    async fn group_lag(&self, topic: &str, group: &str) -> Result<i64, StreamError> {
        self.inner
            .group_lag(&self.name(topic), &self.name(group))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLog;

    #[tokio::test]
    async fn namespaces_do_not_see_each_other() {
        let shared = MemoryLog::default();
        let blue = Namespaced::new(shared.clone(), "blue");
        let green = Namespaced::new(shared.clone(), "green");
        blue.ensure_topic("t", 1).await.unwrap();
        green.ensure_topic("t", 1).await.unwrap();
        blue.append("t", "k", Bytes::from_static(b"b"))
            .await
            .unwrap();
        green
            .append("t", "k", Bytes::from_static(b"g"))
            .await
            .unwrap();
        let mut consumer = blue.consumer("t", "g").await.unwrap();
        let records = consumer.poll(10).await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].topic, "t");
        assert_eq!(records[0].payload, Bytes::from_static(b"b"));
        consumer.commit(&records[0]).await.unwrap();
        assert_eq!(blue.group_lag("t", "g").await.unwrap(), 0);
        assert_eq!(green.group_lag("t", "g").await.unwrap(), 1);
        assert_eq!(shared.group_lag("blue.t", "blue.g").await.unwrap(), 0);
    }
}
