//! Fan-out: delivering processed results to every gateway replica's subscribers.
//!
//! Channels are named strings (`ticks.AAPL`, `insights.AAPL`); messages are opaque bytes. A
//! subscriber that falls behind is not allowed to slow the publisher or the other subscribers:
//! it skips ahead and is told how many messages it missed with [`FanOutItem::Lagged`], so the
//! socket layer can tell its client instead of losing data silently.

mod local;
mod redis;

pub use local::LocalFanOut;
pub use redis::{RedisFanOut, RedisFanOutConfig};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::StreamError;

/// What a channel subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum FanOutItem {
    /// One published message.
    Message(Bytes),
    /// This many messages were skipped because the subscriber fell behind; 0 when the number is
    /// unknown (the connection to a networked fan-out was lost for a while).
    Lagged(u64),
}

/// Publish/subscribe by channel name.
#[async_trait]
pub trait FanOut: Send + Sync + 'static {
    /// Sends `message` to every current subscriber of `channel`.
    async fn publish(&self, channel: &str, message: Bytes) -> Result<(), StreamError>;

    /// Receives every message published on `channel` from now on. Not bounded: for the
    /// platform's own subscribers (a request/reply channel), never on a client's behalf.
    fn subscribe(&self, channel: &str) -> BoxStream<'static, FanOutItem>;

    /// [`FanOut::subscribe`] on a client's behalf: refused with
    /// [`StreamError::TooManyChannels`] when it would open a channel past this replica's bound.
    fn try_subscribe(&self, channel: &str) -> Result<BoxStream<'static, FanOutItem>, StreamError>;

    /// True when publishes reach subscribers.
    async fn is_ready(&self) -> bool;

    /// Live subscriptions to `channel` held in this process (this replica's sockets).
    fn local_subscribers(&self, channel: &str) -> usize;
}
