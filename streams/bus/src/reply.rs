//! Request/reply over the bus: a caller puts a request on a log topic (a consumer group of
//! workers takes it, so requests wait in the log, not in the caller, while every worker is busy)
//! and the answer comes back on a fan-out channel of the caller's replica, matched to its call by
//! the request's id.
//!
//! [`Requester`] holds the replica's reply channel (`<prefix><random>`), one listener task, and
//! the calls waiting for an answer. A call gives up after its timeout; an answer that comes
//! after that, or twice (a redelivered request computed again), finds nobody and is dropped.
//! Workers reply with [`reply`] to the channel the request names.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::envelope::{Envelope, EventPayload};
use crate::fanout::FanOutItem;
use crate::{EventLog, FanOut, StreamError};

/// An answer that names the request it answers.
pub trait Correlated {
    /// The request's id.
    fn correlation_id(&self) -> &str;
}

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be put on the log.
    #[error("failed to queue the request: {0}")]
    Queue(String),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The requester stopped (shutdown) before an answer came.
    #[error("the requester stopped")]
    Stopped,
}

type Waiting<R> = Arc<Mutex<HashMap<String, oneshot::Sender<R>>>>;

/// The calling side of request/reply with answers of type `R`.
pub struct Requester<R> {
    log: Arc<dyn EventLog>,
    topic: &'static str,
    reply_to: String,
    waiting: Waiting<R>,
    timeout: Duration,
}

impl<R: Correlated + DeserializeOwned + Send + 'static> Requester<R> {
    /// Listens on a fresh channel `<reply_prefix><random>` until `shutdown`; requests go to
    /// `topic`. The returned task ends with the shutdown, to be awaited.
    pub fn start(
        log: Arc<dyn EventLog>,
        fanout: &dyn FanOut,
        topic: &'static str,
        reply_prefix: &str,
        timeout: Duration,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let reply_to = format!("{reply_prefix}{}", uuid::Uuid::new_v4().simple());
        let waiting: Waiting<R> = Arc::default();
        let mut replies = fanout.subscribe(&reply_to);
        let routes = waiting.clone();
        let listener = tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    item = replies.next() => item,
                };
                match item {
                    Some(FanOutItem::Message(bytes)) => match serde_json::from_slice::<R>(&bytes) {
                        Ok(reply) => {
                            if let Some(caller) = routes.lock().remove(reply.correlation_id()) {
                                // A caller that gave up no longer listens.
                                let _ = caller.send(reply);
                            }
                        }
                        Err(e) => warn!(topic, error = %e, "undecodable reply"),
                    },
                    // Replies lost while the fan-out was away: their callers time out.
                    Some(FanOutItem::Lagged(_)) => warn!(topic, "replies may have been lost"),
                    None => return,
                }
            }
        });
        let requester = Self {
            log,
            topic,
            reply_to,
            waiting,
            timeout,
        };
        (requester, listener)
    }

    /// The fan-out channel answers to this replica arrive on; requests must name it.
    pub fn reply_channel(&self) -> &str {
        &self.reply_to
    }

    /// Puts `request` (whose id is `id`) on the log and waits for its answer.
    pub async fn call<Q: EventPayload>(&self, id: &str, request: &Q) -> Result<R, CallError> {
        let payload = Envelope::wrap(request)
            .and_then(|e| e.to_bytes())
            .map_err(|e| CallError::Queue(e.to_string()))?;
        let (sender, answer) = oneshot::channel();
        self.waiting.lock().insert(id.to_owned(), sender);
        if let Err(e) = self.log.append(self.topic, id, Bytes::from(payload)).await {
            self.waiting.lock().remove(id);
            return Err(CallError::Queue(e.to_string()));
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(CallError::Stopped),
            Err(_) => {
                self.waiting.lock().remove(id);
                Err(CallError::Timeout(self.timeout))
            }
        }
    }
}

/// A worker's answer to the channel its request named.
pub async fn reply<R: Serialize>(
    fanout: &dyn FanOut,
    reply_to: &str,
    answer: &R,
) -> Result<(), StreamError> {
    let body = serde_json::to_vec(answer).map_err(StreamError::Encode)?;
    fanout.publish(reply_to, Bytes::from(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalFanOut, MemoryLog};
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ask {
        id: String,
        reply_to: String,
        n: i64,
    }

    impl EventPayload for Ask {
        const TYPE: &'static str = "test.ask";
        const VERSION: u16 = 1;

        fn key(&self) -> &str {
            &self.id
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Answer {
        id: String,
        doubled: i64,
    }

    impl Correlated for Answer {
        fn correlation_id(&self) -> &str {
            &self.id
        }
    }

    #[tokio::test]
    async fn answers_find_their_calls_and_silence_times_out() {
        let log = MemoryLog::new(Default::default());
        log.ensure_topic("asks", 2).await.unwrap();
        let log: Arc<dyn EventLog> = Arc::new(log);
        let fanout = Arc::new(LocalFanOut::default());
        let shutdown = CancellationToken::new();
        let (requester, listener) = Requester::<Answer>::start(
            log.clone(),
            fanout.as_ref(),
            "asks",
            "test.reply.",
            Duration::from_secs(5),
            shutdown.clone(),
        );
        // A worker that doubles.
        let mut consumer = log.consumer("asks", "doublers").await.unwrap();
        let worker_fanout = fanout.clone();
        let worker = tokio::spawn(async move {
            for _ in 0..2 {
                for record in consumer.poll(10).await.unwrap() {
                    let ask: Ask = Envelope::from_bytes(&record.payload)
                        .unwrap()
                        .decode()
                        .unwrap();
                    let answer = Answer {
                        id: ask.id.clone(),
                        doubled: ask.n * 2,
                    };
                    reply(worker_fanout.as_ref(), &ask.reply_to, &answer)
                        .await
                        .unwrap();
                }
            }
        });
        let ask = |id: &str, n| Ask {
            id: id.into(),
            reply_to: requester.reply_channel().to_owned(),
            n,
        };
        let (ask_a, ask_b) = (ask("a", 2), ask("b", 21));
        let (a, b) = tokio::join!(requester.call("a", &ask_a), requester.call("b", &ask_b));
        assert_eq!(a.unwrap().doubled, 4);
        assert_eq!(b.unwrap().doubled, 42);
        worker.abort();
        // Nobody answers now.
        let (quiet, _quiet_listener) = Requester::<Answer>::start(
            log.clone(),
            fanout.as_ref(),
            "asks",
            "test.reply.",
            Duration::from_millis(50),
            shutdown.clone(),
        );
        let silent = Ask {
            id: "c".into(),
            reply_to: quiet.reply_channel().to_owned(),
            n: 1,
        };
        assert!(matches!(
            quiet.call("c", &silent).await,
            Err(CallError::Timeout(_))
        ));
        shutdown.cancel();
        listener.await.unwrap();
    }
}
