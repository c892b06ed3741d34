//! A socket's outbound queue: the reason a slow client never delays anyone else.
//!
//! Producers (subscription tasks) never wait on a socket; they push here and move on. Two kinds
//! of message are queued differently:
//! - *coalescable* (ticks, candles): only the newest per `(subscription, symbol)` is kept; a
//!   newer one replaces a queued one in place (counted), so a slow client sees the latest price
//!   rather than a growing backlog;
//! - *reliable* (insights, query results, protocol replies): kept in order; when more than
//!   `capacity` are waiting the client is too slow to be served, and the socket is closed with
//!   a reason instead of dropping any.
//!
//! The writer task takes messages one at a time in arrival order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Identifies the one slot a coalescable message may occupy.
pub type CoalesceKey = (String, String);

/// A frame for the writer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// Close with this code and reason, then stop.
    Close(u16, String),
    /// A WebSocket ping (keepalive).
    Ping,
}

#[derive(Debug)]
enum Slot {
    Reliable(String),
    Latest(CoalesceKey),
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Slot>,
    latest: HashMap<CoalesceKey, String>,
    reliable: usize,
    close: Option<(u16, String)>,
    /// Deliver what is queued before the close frame.
    flush_before_close: bool,
    closed: bool,
    /// A keepalive ping is due; it goes before queued messages (it is small and its point is
    /// to be timely).
    ping: bool,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Replaced an older message with the same key.
    Coalesced,
    /// The socket is closing; the message was not queued.
    Closed,
    /// The reliable queue is full: the socket must be closed as too slow.
    Overflow,
}

/// The queue between a socket's producers and its writer.
#[derive(Debug, Clone)]
pub struct Outbox {
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    capacity: usize,
}

impl Outbox {
    /// A queue holding at most `capacity` reliable messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Arc::default(),
            ready: Arc::new(Notify::new()),
            capacity: capacity.max(1),
        }
    }

    /// Queues a message that must arrive.
    pub fn push(&self, text: String) -> Pushed {
        let mut state = self.state.lock();
        if state.closed || state.close.is_some() {
            return Pushed::Closed;
        }
        if state.reliable >= self.capacity {
            return Pushed::Overflow;
        }
        state.reliable += 1;
        state.queue.push_back(Slot::Reliable(text));
        drop(state);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Queues a message of which only the newest per `key` matters.
    pub fn push_latest(&self, key: CoalesceKey, text: String) -> Pushed {
        let mut state = self.state.lock();
        if state.closed || state.close.is_some() {
            return Pushed::Closed;
        }
        if let Some(queued) = state.latest.get_mut(&key) {
            *queued = text;
            return Pushed::Coalesced;
        }
        state.latest.insert(key.clone(), text);
        state.queue.push_back(Slot::Latest(key));
        drop(state);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Asks the writer to close with `code` once it takes its next message, dropping what is
    /// queued (shutdown, a client too slow to take it anyway); later pushes are refused. The
    /// first close wins, except that an immediate close overrides a pending flushing one.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        self.request_close(code, reason.into(), false);
    }

    /// Asks the writer to send what is already queued, then close with `code`: the client
    /// learns why (an error message, `connection_error`) before the socket ends.
    pub fn close_after_queued(&self, code: u16, reason: impl Into<String>) {
        self.request_close(code, reason.into(), true);
    }

    fn request_close(&self, code: u16, reason: String, flush: bool) {
        let mut state = self.state.lock();
        let replaces_flushing = state.close.is_some() && state.flush_before_close && !flush;
        if !state.closed && (state.close.is_none() || replaces_flushing) {
            state.close = Some((code, reason));
            state.flush_before_close = flush;
        }
        drop(state);
        self.ready.notify_one();
    }

    /// Asks the writer to send a WebSocket ping next (one, however often asked before it is sent).
    pub fn ping(&self) {
        let mut state = self.state.lock();
        if state.closed || state.close.is_some() {
            return;
        }
        state.ping = true;
        drop(state);
        self.ready.notify_one();
    }

    /// True once a close has been requested.
    pub fn is_closing(&self) -> bool {
        let state = self.state.lock();
        state.close.is_some() || state.closed
    }

    fn try_next(&self) -> Option<Outgoing> {
        let mut state = self.state.lock();
        if state.closed {
            return None;
        }
        let queue_done = !state.flush_before_close || state.queue.is_empty();
        if state.close.is_some() && queue_done {
            let (code, reason) = state.close.take().expect("checked above");
            // An immediate close jumps the queue: what is left would only delay it.
            state.closed = true;
            state.queue.clear();
            state.latest.clear();
            return Some(Outgoing::Close(code, reason));
        }
        if std::mem::take(&mut state.ping) {
            return Some(Outgoing::Ping);
        }
        match state.queue.pop_front()? {
            Slot::Reliable(text) => {
                state.reliable -= 1;
                Some(Outgoing::Text(text))
            }
            Slot::Latest(key) => state.latest.remove(&key).map(Outgoing::Text),
        }
    }

    /// Waits for the next frame; `None` after the close frame was handed out.
    pub async fn next(&self) -> Option<Outgoing> {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(frame) = self.try_next() {
                return Some(frame);
            }
            if self.state.lock().closed {
                return None;
            }
            ready.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sub: &str, symbol: &str) -> CoalesceKey {
        (sub.into(), symbol.into())
    }

    #[tokio::test]
    async fn latest_messages_replace_queued_ones_in_place() {
        let outbox = Outbox::new(10);
        outbox.push_latest(key("1", "AAPL"), "aapl-1".into());
        outbox.push("insight".into());
        outbox.push_latest(key("1", "MSFT"), "msft-1".into());
        assert_eq!(
            outbox.push_latest(key("1", "AAPL"), "aapl-2".into()),
            Pushed::Coalesced
        );
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(outbox.next().await.unwrap());
        }
        assert_eq!(
            got,
            vec![
                Outgoing::Text("aapl-2".into()),
                Outgoing::Text("insight".into()),
                Outgoing::Text("msft-1".into())
            ]
        );
        // Once taken, a new tick queues again.
        assert_eq!(
            outbox.push_latest(key("1", "AAPL"), "aapl-3".into()),
            Pushed::Queued
        );
    }

    #[tokio::test]
    async fn reliable_messages_are_never_dropped_they_overflow() {
        let outbox = Outbox::new(2);
        assert_eq!(outbox.push("a".into()), Pushed::Queued);
        assert_eq!(outbox.push("b".into()), Pushed::Queued);
        assert_eq!(outbox.push("c".into()), Pushed::Overflow);
        assert_eq!(outbox.next().await, Some(Outgoing::Text("a".into())));
        assert_eq!(outbox.push("c".into()), Pushed::Queued);
    }

    #[tokio::test]
    async fn close_jumps_the_queue_and_ends_the_stream() {
        let outbox = Outbox::new(4);
        outbox.push("a".into());
        outbox.close(4403, "Forbidden");
        assert_eq!(outbox.push("b".into()), Pushed::Closed);
        assert_eq!(
            outbox.next().await,
            Some(Outgoing::Close(4403, "Forbidden".into()))
        );
        assert_eq!(outbox.next().await, None);
    }

    #[tokio::test]
    async fn a_flushing_close_delivers_the_queue_first() {
        let outbox = Outbox::new(4);
        outbox.push("error".into());
        outbox.push_latest(key("1", "AAPL"), "tick".into());
        outbox.close_after_queued(4403, "Forbidden");
        assert_eq!(outbox.push("late".into()), Pushed::Closed);
        assert_eq!(outbox.next().await, Some(Outgoing::Text("error".into())));
        assert_eq!(outbox.next().await, Some(Outgoing::Text("tick".into())));
        assert_eq!(
            outbox.next().await,
            Some(Outgoing::Close(4403, "Forbidden".into()))
        );
        assert_eq!(outbox.next().await, None);
    }

    #[tokio::test]
    async fn an_immediate_close_overrides_a_flushing_one() {
        let outbox = Outbox::new(4);
        outbox.push("a".into());
        outbox.close_after_queued(4400, "bad");
        outbox.close(1001, "going away");
        assert_eq!(
            outbox.next().await,
            Some(Outgoing::Close(1001, "going away".into()))
        );
    }
}
