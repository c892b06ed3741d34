//! Inference as a service of the spine: gateways put embedding requests on the log, inference
//! workers (a consumer group) run the model and answer through the fan-out, so inference scales
//! out separately from the gateways and a request waits in Kafka, not in a gateway, while every
//! worker is busy.
//!
//! Built on the bus's request/reply ([`finpulse_bus::reply`]): a request names the fan-out
//! channel of the replica that sent it; the reply goes there and is matched to its caller by
//! request id. A request whose caller stopped waiting is answered into
//! the void at no harm. Requests are processed at least once; a redelivered one is simply
//! computed again (embedding is a pure function).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use finpulse_bus::envelope::EventPayload;
use finpulse_bus::reply::{CallError, Correlated, Requester, reply as reply_to};
use finpulse_bus::runtime::{Decoded, Handler, Spec};
use finpulse_bus::{EventLog, FanOut, StreamError};
use finpulse_inference::{Embeddings, Inference, InferenceError, ModelInfo};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Log topic of embedding requests.
pub const INFERENCE_REQUESTS_TOPIC: &str = "inference.requests";
/// Consumer group of the inference workers.
pub const INFERENCE_GROUP: &str = "inference";

/// Every reply channel starts with this.
pub const REPLY_CHANNEL_PREFIX: &str = "inference.reply.";

/// Where undecodable requests go.
pub const INFERENCE_DEAD_LETTER_TOPIC: &str = "inference.requests.dead-letter";

/// Where the inference workers read; at most 64 requests a poll (their texts are micro-batched
/// together).
pub const INFERENCE: Spec = Spec {
    group: INFERENCE_GROUP,
    topic: INFERENCE_REQUESTS_TOPIC,
    dead_letter_topic: INFERENCE_DEAD_LETTER_TOPIC,
    batch: 64,
};

/// An embedding request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// Matches the reply to its caller.
    pub id: String,
    /// The model, or the workers' default.
    pub model: Option<String>,
    /// The texts.
    pub texts: Vec<String>,
    /// Fan-out channel of the replica waiting for the answer.
    pub reply_to: String,
}

impl EventPayload for EmbedRequest {
    const TYPE: &'static str = "inference.embed";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.id
    }

    fn validate(&self) -> Result<(), String> {
        if self.texts.is_empty() {
            return Err("no texts".into());
        }
        // Replies go only to reply channels: a request must not be able to make a worker
        // publish into market channels.
        if !self.reply_to.starts_with(REPLY_CHANNEL_PREFIX) {
            return Err(format!(
                "reply channel must start with {REPLY_CHANNEL_PREFIX}"
            ));
        }
        Ok(())
    }
}

/// The answer to an [`EmbedRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedReply {
    /// The request's id.
    pub id: String,
    /// The vectors, when it worked.
    pub vectors: Option<Vec<Vec<f32>>>,
    /// Why not, when it did not.
    pub error: Option<String>,
}

impl Correlated for EmbedReply {
    fn correlation_id(&self) -> &str {
        &self.id
    }
}

/// [`Embeddings`] served by inference workers through the log and the fan-out.
pub struct RemoteEmbeddings {
    info: ModelInfo,
    requester: Requester<EmbedReply>,
}

impl RemoteEmbeddings {
    /// Listens for replies on a channel of this replica's own until `shutdown`; the returned
    /// task ends then, to be awaited on shutdown.
    pub fn start(
        log: Arc<dyn EventLog>,
        fanout: Arc<dyn FanOut>,
        info: ModelInfo,
        timeout: Duration,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (requester, listener) = Requester::start(
            log,
            fanout.as_ref(),
            INFERENCE_REQUESTS_TOPIC,
            REPLY_CHANNEL_PREFIX,
            timeout,
            shutdown,
        );
        (Self { info, requester }, listener)
    }

    /// The fan-out channel replies to this replica arrive on.
    pub fn reply_channel(&self) -> &str {
        self.requester.reply_channel()
    }
}

#[async_trait]
impl Embeddings for RemoteEmbeddings {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let name = self.info.name.clone();
        let request = EmbedRequest {
            id: uuid::Uuid::new_v4().simple().to_string(),
            model: Some(name.clone()),
            texts,
            reply_to: self.requester.reply_channel().to_owned(),
        };
        let reply = match self.requester.call(&request.id, &request).await {
            Ok(reply) => reply,
            Err(CallError::Timeout(_)) => return Err(InferenceError::Timeout(name)),
            Err(CallError::Stopped) => return Err(InferenceError::Closed(name)),
            Err(e) => {
                return Err(InferenceError::Run {
                    model: name,
                    reason: e.to_string(),
                });
            }
        };
        match (reply.vectors, reply.error) {
            (Some(vectors), _) => Ok(vectors),
            (None, error) => Err(InferenceError::Run {
                model: name,
                reason: error.unwrap_or_else(|| "no vectors".into()),
            }),
        }
    }
}

/// Runs embedding requests from the log on this process's models.
pub struct InferenceProcessor {
    inference: Inference,
    fanout: Arc<dyn FanOut>,
}

impl InferenceProcessor {
    /// A processor answering with `inference` through `fanout`.
    pub fn new(inference: Inference, fanout: Arc<dyn FanOut>) -> Self {
        Self { inference, fanout }
    }
}

#[async_trait]
impl Handler for InferenceProcessor {
    type Event = EmbedRequest;

    async fn handle(
        &mut self,
        batch: Vec<Decoded<EmbedRequest>>,
        _shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        // Every request of the poll at once: the model's micro-batcher groups their texts.
        let this = &*self;
        let answers = batch.into_iter().map(|decoded| async move {
            let request = decoded.event;
            let vectors = match this.inference.embedder(request.model.as_deref()) {
                Ok(embedder) => embedder.embed(request.texts).await,
                Err(e) => Err(e),
            };
            let reply = match vectors {
                Ok(vectors) => EmbedReply {
                    id: request.id,
                    vectors: Some(vectors),
                    error: None,
                },
                Err(e) => EmbedReply {
                    id: request.id,
                    vectors: None,
                    error: Some(e.to_string()),
                },
            };
            if let Err(e) = reply_to(this.fanout.as_ref(), &request.reply_to, &reply).await {
                warn!(error = %e, "failed to publish an inference reply");
            }
        });
        futures::future::join_all(answers).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_may_only_reply_to_reply_channels() {
        let request = |reply_to: &str| EmbedRequest {
            id: "1".into(),
            model: None,
            texts: vec!["hello".into()],
            reply_to: reply_to.into(),
        };
        assert!(request("inference.reply.abc").validate().is_ok());
        assert!(request("insights.all").validate().is_err());
        assert!(request("").validate().is_err());
        let empty = EmbedRequest {
            texts: Vec::new(),
            ..request("inference.reply.abc")
        };
        assert!(empty.validate().is_err());
    }
}
