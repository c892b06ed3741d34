//! In-process fan-out over tokio broadcast channels: the embedded default, and the per-replica
//! hub that a networked fan-out feeds so each replica holds one upstream subscription per
//! channel however many sockets want it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use prometheus::IntCounterVec;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{FanOut, FanOutItem};
use crate::StreamError;

/// What travels through a local channel.
#[derive(Debug, Clone)]
enum Delivery {
    Message(Bytes),
    /// Messages may have been lost upstream.
    Gap,
}

/// [`FanOut`] within one process.
#[derive(Debug, Clone)]
pub struct LocalFanOut {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Delivery>>>>,
    capacity: usize,
    lagged: Option<IntCounterVec>,
}

impl Default for LocalFanOut {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl LocalFanOut {
    /// A hub whose channels buffer `capacity` messages per subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        Self {
            channels: Arc::default(),
            capacity: capacity.max(1),
            lagged: None,
        }
    }

    /// Counts what subscribers miss by falling behind in `lagged{kind}`.
    pub fn with_lag_counter(mut self, lagged: IntCounterVec) -> Self {
        self.lagged = Some(lagged);
        self
    }

    /// Number of channels with at least one subscriber.
    pub fn active_channels(&self) -> usize {
        self.channels
            .lock()
            .values()
            .filter(|s| s.receiver_count() > 0)
            .count()
    }

    /// Names of the channels with at least one subscriber.
    pub fn active_channel_names(&self) -> Vec<String> {
        self.channels
            .lock()
            .iter()
            .filter(|(_, s)| s.receiver_count() > 0)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Delivers to local subscribers; returns how many received it.
    pub fn send(&self, channel: &str, message: Bytes) -> usize {
        self.deliver(channel, Delivery::Message(message))
    }

    /// Tells the subscribers of `channel` that messages may have been lost (they receive
    /// [`FanOutItem::Lagged`] with 0: an unknown number).
    pub fn signal_gap(&self, channel: &str) -> usize {
        self.deliver(channel, Delivery::Gap)
    }

    fn deliver(&self, channel: &str, delivery: Delivery) -> usize {
        let mut channels = self.channels.lock();
        let Some(sender) = channels.get(channel) else {
            return 0;
        };
        match sender.send(delivery) {
            Ok(receivers) => receivers,
            Err(_) => {
                // Everybody left: forget the channel so idle names do not pile up.
                channels.remove(channel);
                0
            }
        }
    }
}

#[async_trait]
impl FanOut for LocalFanOut {
    async fn publish(&self, channel: &str, message: Bytes) -> Result<(), StreamError> {
        self.send(channel, message);
        Ok(())
    }

    fn subscribe(&self, channel: &str) -> BoxStream<'static, FanOutItem> {
        let receiver = self
            .channels
            .lock()
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        let lagged = self.lagged.as_ref().map(|counter| {
            let kind = channel.split('.').next().unwrap_or_default();
            counter.with_label_values(&[kind])
        });
        BroadcastStream::new(receiver)
            .map(move |item| match item {
                Ok(Delivery::Message(bytes)) => FanOutItem::Message(bytes),
                Ok(Delivery::Gap) => FanOutItem::Lagged(0),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    if let Some(counter) = &lagged {
                        counter.inc_by(missed);
                    }
                    FanOutItem::Lagged(missed)
                }
            })
            .boxed()
    }

    async fn is_ready(&self) -> bool {
        true
    }

    fn local_subscribers(&self, channel: &str) -> usize {
        self.channels
            .lock()
            .get(channel)
            .map_or(0, broadcast::Sender::receiver_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_messages_of_their_channel_only() {
        let hub = LocalFanOut::default();
        let mut a = hub.subscribe("ticks.AAPL");
        let mut m = hub.subscribe("ticks.MSFT");
        hub.publish("ticks.AAPL", Bytes::from_static(b"1"))
            .await
            .unwrap();
        hub.publish("ticks.MSFT", Bytes::from_static(b"2"))
            .await
            .unwrap();
        assert_eq!(
            a.next().await,
            Some(FanOutItem::Message(Bytes::from_static(b"1")))
        );
        assert_eq!(
            m.next().await,
            Some(FanOutItem::Message(Bytes::from_static(b"2")))
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged() {
        let hub = LocalFanOut::new(2);
        let mut slow = hub.subscribe("c");
        for i in 0..5u8 {
            hub.publish("c", Bytes::from(vec![i])).await.unwrap();
        }
        assert_eq!(slow.next().await, Some(FanOutItem::Lagged(3)));
        assert_eq!(
            slow.next().await,
            Some(FanOutItem::Message(Bytes::from(vec![3])))
        );
    }

    #[tokio::test]
    async fn a_gap_reaches_subscribers_as_an_unknown_lag() {
        let hub = LocalFanOut::default();
        let mut sub = hub.subscribe("c");
        assert_eq!(hub.signal_gap("c"), 1);
        hub.publish("c", Bytes::from_static(b"after"))
            .await
            .unwrap();
        assert_eq!(sub.next().await, Some(FanOutItem::Lagged(0)));
        assert_eq!(
            sub.next().await,
            Some(FanOutItem::Message(Bytes::from_static(b"after")))
        );
    }

    #[tokio::test]
    async fn channels_without_subscribers_are_forgotten() {
        let hub = LocalFanOut::default();
        let sub = hub.subscribe("c");
        assert_eq!(hub.active_channels(), 1);
        drop(sub);
        assert_eq!(hub.send("c", Bytes::new()), 0);
        assert_eq!(hub.active_channels(), 0);
    }
}
