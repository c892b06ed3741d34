//! In-process fan-out over tokio broadcast channels: the embedded default, and the per-replica
//! hub that a networked fan-out feeds so each replica holds one upstream subscription per
//! channel however many sockets want it.
//!
//! A channel exists only while somebody subscribes to it: the last subscription to leave
//! removes it (a subscription to a name nobody publishes would otherwise keep a 1024-slot
//! buffer forever). [`LocalFanOut::with_max_channels`] bounds how many exist at once; past it,
//! [`FanOut::try_subscribe`] to a new name is refused.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntCounterVec, IntGauge};
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

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<Delivery>>>>;

/// [`FanOut`] within one process.
#[derive(Debug, Clone)]
pub struct LocalFanOut {
    channels: Channels,
    capacity: usize,
    max_channels: usize,
    lagged: Option<IntCounterVec>,
    gauge: Option<IntGauge>,
    refused: Option<IntCounter>,
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
            max_channels: usize::MAX,
            lagged: None,
            gauge: None,
            refused: None,
        }
    }

    /// Refuses [`FanOut::try_subscribe`] to a new channel while `max` exist.
    pub fn with_max_channels(mut self, max: usize) -> Self {
        self.max_channels = max.max(1);
        self
    }

    /// Keeps `gauge` equal to the number of channels and counts refused subscriptions.
    pub fn with_channel_metrics(mut self, gauge: IntGauge, refused: IntCounter) -> Self {
        self.gauge = Some(gauge);
        self.refused = Some(refused);
        self
    }

    /// Number of channels held (each has at least one subscriber).
    pub fn channel_count(&self) -> usize {
        self.channels.lock().len()
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

impl LocalFanOut {
    fn open(
        &self,
        channel: &str,
        bounded: bool,
    ) -> Result<BoxStream<'static, FanOutItem>, StreamError> {
        let receiver = {
            let mut channels = self.channels.lock();
            if bounded && channels.len() >= self.max_channels && !channels.contains_key(channel) {
                if let Some(refused) = &self.refused {
                    refused.inc();
                }
                return Err(StreamError::TooManyChannels(self.max_channels));
            }
            let receiver = channels
                .entry(channel.to_owned())
                .or_insert_with(|| broadcast::channel(self.capacity).0)
                .subscribe();
            if let Some(gauge) = &self.gauge {
                gauge.set(channels.len() as i64);
            }
            receiver
        };
        let lagged = self.lagged.as_ref().map(|counter| {
            let kind = channel.split('.').next().unwrap_or_default();
            counter.with_label_values(&[kind])
        });
        let stream = BroadcastStream::new(receiver)
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
            .boxed();
        Ok(Subscription {
            inner: stream,
            _release: Release {
                channels: self.channels.clone(),
                name: channel.to_owned(),
                gauge: self.gauge.clone(),
            },
        }
        .boxed())
    }
}

/// A channel subscription. Its fields drop in order: the receiver first, then [`Release`],
/// which then sees whether it was the last.
struct Subscription {
    inner: BoxStream<'static, FanOutItem>,
    _release: Release,
}

impl futures::Stream for Subscription {
    type Item = FanOutItem;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<FanOutItem>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// Removes its channel when the subscription holding it was the channel's last.
struct Release {
    channels: Channels,
    name: String,
    gauge: Option<IntGauge>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut channels = self.channels.lock();
        // A subscriber that arrived since holds a receiver of the same sender: keep it.
        if channels
            .get(&self.name)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.name);
        }
        if let Some(gauge) = &self.gauge {
            gauge.set(channels.len() as i64);
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
        self.open(channel, false)
            .expect("an unbounded subscription is never refused")
    }

    fn try_subscribe(&self, channel: &str) -> Result<BoxStream<'static, FanOutItem>, StreamError> {
        self.open(channel, true)
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
        let again = hub.subscribe("c");
        assert_eq!(hub.active_channels(), 1);
        drop(sub);
        assert_eq!(hub.channel_count(), 1, "one subscriber is left");
        drop(again);
        assert_eq!(hub.channel_count(), 0, "gone without a publish");
        assert_eq!(hub.send("c", Bytes::new()), 0);
    }

    #[tokio::test]
    async fn a_hundred_thousand_subscriptions_to_invented_names_leave_nothing_behind() {
        let gauge = IntGauge::new("channels", "channels").unwrap();
        let refused = IntCounter::new("refused", "refused").unwrap();
        let hub = LocalFanOut::new(1024).with_channel_metrics(gauge.clone(), refused);
        let mut held = Vec::new();
        for i in 0..100_000u32 {
            held.push(hub.try_subscribe(&format!("ticks.X{}", i % 5_000)).unwrap());
            if held.len() == 20 {
                held.clear();
            }
        }
        held.clear();
        assert_eq!(hub.channel_count(), 0);
        assert_eq!(gauge.get(), 0);
    }

    #[tokio::test]
    async fn new_channels_past_the_bound_are_refused() {
        let gauge = IntGauge::new("channels", "channels").unwrap();
        let refused = IntCounter::new("refused", "refused").unwrap();
        let hub = LocalFanOut::new(8)
            .with_max_channels(2)
            .with_channel_metrics(gauge.clone(), refused.clone());
        let a = hub.try_subscribe("a").unwrap();
        let _b = hub.try_subscribe("b").unwrap();
        let _a_again = hub.try_subscribe("a").unwrap();
        assert!(matches!(
            hub.try_subscribe("c"),
            Err(StreamError::TooManyChannels(2))
        ));
        assert_eq!(refused.get(), 1);
        assert_eq!(gauge.get(), 2);
        drop(a);
        drop(_a_again);
        let _c = hub.try_subscribe("c").unwrap();
    }
}
