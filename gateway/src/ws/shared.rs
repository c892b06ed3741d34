//! Subscription multiplexing: sockets that run the same public subscription (same document,
//! operation name and variables) share one execution.
//!
//! Without it, ten thousand sockets watching AAPL ticks run the resolver, build the response and
//! serialise it ten thousand times per tick. With it, one task per distinct subscription does
//! that once and hands the finished JSON to every socket, which only wraps it in its own
//! `{"id", "type", "payload"}` frame. Only subscriptions whose result cannot depend on who asks
//! are shared (see [`PUBLIC_SUBSCRIPTION_FIELDS`]); per-user ones run per socket.
//!
//! The shared execution stops when its last socket leaves: sockets hold an `Arc<Shared>`, the
//! registry only a `Weak`, and dropping the last `Arc` aborts the task.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use async_graphql::Request;
use finpulse_graph::FinpulseSchema;
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::metrics::GatewayMetrics;

/// Root subscription fields whose results are the same for every caller.
pub const PUBLIC_SUBSCRIPTION_FIELDS: &[&str] = &["ticks", "candles", "insights"];

/// Results a shared execution may run ahead of its slowest socket's operation task before that
/// task skips (ticks, candles) or reports `LAGGED` (insights). Operation tasks only move
/// results into the socket's outbox, so in practice they never fall this far behind.
const SHARED_BUFFER: usize = 1024;

/// What identifies one shared execution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl ShareKey {
    /// The key of a request; variables are compared by their canonical JSON text.
    pub fn new(
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&serde_json::Map<String, Value>>,
    ) -> Self {
        Self {
            query: query.to_owned(),
            operation_name: operation_name.map(str::to_owned),
            // serde_json's Map is ordered by key (no `preserve_order`), so equal maps print alike.
            variables: variables
                .map(|v| Value::Object(v.clone()).to_string())
                .unwrap_or_default(),
        }
    }
}

/// One result of a shared execution, serialised once.
#[derive(Debug, Clone)]
pub enum SharedEvent {
    /// A result: the JSON of the GraphQL response, and the symbol it is about (for coalescing).
    Next {
        /// The response as JSON text.
        payload: Arc<str>,
        /// `data.<root>.symbol`, when present.
        symbol: Option<Arc<str>>,
    },
    /// The request failed before execution: the JSON error list.
    Error(Arc<str>),
    /// The stream ended.
    Complete,
}

/// A running shared execution; dropping the last handle stops it.
#[derive(Debug)]
pub struct Shared {
    sender: broadcast::Sender<SharedEvent>,
    task: AbortHandle,
    metrics: GatewayMetrics,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
        self.metrics.shared_streams.dec();
    }
}

/// The registry of shared executions of one gateway.
#[derive(Clone)]
pub struct SharedSubscriptions {
    schema: FinpulseSchema,
    metrics: GatewayMetrics,
    running: Arc<Mutex<HashMap<ShareKey, Weak<Shared>>>>,
}

impl std::fmt::Debug for SharedSubscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSubscriptions")
            .field("running", &self.running.lock().len())
            .finish()
    }
}

impl SharedSubscriptions {
    /// An empty registry executing against `schema`.
    pub fn new(schema: FinpulseSchema, metrics: GatewayMetrics) -> Self {
        Self {
            schema,
            metrics,
            running: Arc::default(),
        }
    }

    /// Joins the execution of `key`, starting it with `request` if none runs. The receiver
    /// sees every result produced after this call.
    pub fn join(
        &self,
        key: ShareKey,
        request: Request,
    ) -> (Arc<Shared>, broadcast::Receiver<SharedEvent>) {
        let mut running = self.running.lock();
        if let Some(shared) = running.get(&key).and_then(Weak::upgrade) {
            let receiver = shared.sender.subscribe();
            return (shared, receiver);
        }
        // Forget executions that ended before starting a new one, so the map stays the size of
        // what runs.
        running.retain(|_, shared| shared.strong_count() > 0);
        let (sender, receiver) = broadcast::channel(SHARED_BUFFER);
        let task = tokio::spawn(execute(self.schema.clone(), request, sender.clone()));
        self.metrics.shared_streams.inc();
        let shared = Arc::new(Shared {
            sender,
            task: task.abort_handle(),
            metrics: self.metrics.clone(),
        });
        running.insert(key, Arc::downgrade(&shared));
        (shared, receiver)
    }

    /// Executions currently running.
    pub fn running(&self) -> usize {
        self.running
            .lock()
            .values()
            .filter(|s| s.strong_count() > 0)
            .count()
    }
}

/// True for errors raised before execution (parse, validation): they have no path.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The `symbol` of the first root field's result, which tells apart results of different
/// symbols within one subscription.
pub fn result_symbol(response: &Value) -> Option<&str> {
    response
        .get("data")
        .and_then(Value::as_object)
        .and_then(|data| data.values().next())
        .and_then(|root| root.get("symbol"))
        .and_then(Value::as_str)
}

async fn execute(schema: FinpulseSchema, request: Request, sender: broadcast::Sender<SharedEvent>) {
    let mut results = schema.execute_stream(request);
    let mut first = true;
    while let Some(response) = results.next().await {
        if first && is_request_error(&response) {
            let errors = serde_json::to_string(&response.errors).unwrap_or_else(|_| "[]".into());
            let _ = sender.send(SharedEvent::Error(errors.into()));
            return;
        }
        first = false;
        let value = match serde_json::to_value(&response) {
            Ok(value) => value,
            Err(e) => {
                tracing::warn!(error = %e, "failed to encode a shared result");
                continue;
            }
        };
        let symbol = response
            .errors
            .is_empty()
            .then(|| result_symbol(&value).map(Arc::from))
            .flatten();
        let event = SharedEvent::Next {
            payload: value.to_string().into(),
            symbol,
        };
        if sender.send(event).is_err() {
            // Every socket left between two results; the last handle's drop aborts us anyway.
            return;
        }
    }
    let _ = sender.send(SharedEvent::Complete);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_variables_by_content() {
        let a: serde_json::Map<String, Value> = serde_json::from_str(r#"{"a":1,"b":[2]}"#).unwrap();
        let b: serde_json::Map<String, Value> = serde_json::from_str(r#"{"b":[2],"a":1}"#).unwrap();
        assert_eq!(
            ShareKey::new("q", None, Some(&a)),
            ShareKey::new("q", None, Some(&b))
        );
        assert_ne!(
            ShareKey::new("q", None, Some(&a)),
            ShareKey::new("q", Some("Op"), Some(&a))
        );
        assert_ne!(
            ShareKey::new("q", None, Some(&a)),
            ShareKey::new("q", None, None)
        );
    }

    #[test]
    fn the_symbol_comes_from_the_first_root_field() {
        let value: Value =
            serde_json::from_str(r#"{"data":{"ticks":{"symbol":"AAPL","price":1}}}"#).unwrap();
        assert_eq!(result_symbol(&value), Some("AAPL"));
        assert_eq!(result_symbol(&serde_json::json!({"data": null})), None);
    }
}
