//! Subscription multiplexing: sockets that run the same public subscription (same document,
//! operation name and variables) share one execution.
//!
//! Without it, ten thousand sockets watching AAPL ticks run the resolver, build the response and
//! serialise it ten thousand times per tick. With it, one task per distinct subscription does
//! that once and hands the finished JSON to every socket, which only wraps it in its own
//! `{"id", "type", "payload"}` frame. Only subscriptions whose result cannot depend on who asks
//! are shared (the schema says which: [`finpulse_graph::policy`]); per-user ones run per socket.
//!
//! The shared execution pushes straight into each socket's outbox (no task per socket in
//! between), so one event costs one resolver run, one serialisation and then a string format
//! and a queue push per socket. It stops when its last socket leaves: memberships hold an
//! `Arc<Shared>`, the registry only a `Weak`, and dropping the last `Arc` aborts the task.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::Request;
use finpulse_graph::FinpulseSchema;
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::task::AbortHandle;

use super::delivery::{Active, Operation, coalesce_key, finish, push};
use super::protocol;
use crate::metrics::GatewayMetrics;

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

/// The operations a shared execution delivers to; `ended` once its stream is over, after which
/// nobody may join it.
#[derive(Debug, Default)]
struct Members {
    ended: bool,
    operations: HashMap<u64, Operation>,
}

type Subscribers = Arc<Mutex<Members>>;

/// A running shared execution; dropping the last handle stops it.
#[derive(Debug)]
pub struct Shared {
    subscribers: Subscribers,
    task: AbortHandle,
    metrics: GatewayMetrics,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
        self.metrics.shared_streams.dec();
    }
}

/// One socket operation's place among a shared execution's subscribers.
#[derive(Debug)]
pub struct Membership {
    shared: Arc<Shared>,
    key: u64,
    _active: Active,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.subscribers.lock().operations.remove(&self.key);
    }
}

/// The registry of shared executions of one gateway.
#[derive(Clone)]
pub struct SharedSubscriptions {
    schema: FinpulseSchema,
    metrics: GatewayMetrics,
    running: Arc<Mutex<HashMap<ShareKey, Weak<Shared>>>>,
    next_member: Arc<AtomicU64>,
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
            next_member: Arc::default(),
        }
    }

    /// Adds `operation` to the subscribers of `key`, starting the execution with `request` if
    /// none runs. The operation receives every result produced from now on.
    pub fn join(&self, key: ShareKey, request: Request, operation: Operation) -> Membership {
        let member = self.next_member.fetch_add(1, Ordering::Relaxed);
        let active = Active::start(&operation.metrics);
        let mut running = self.running.lock();
        if let Some(shared) = running.get(&key).and_then(Weak::upgrade) {
            let mut members = shared.subscribers.lock();
            if !members.ended {
                members.operations.insert(member, operation);
                drop(members);
                return Membership {
                    shared,
                    key: member,
                    _active: active,
                };
            }
        }
        // Forget executions that ended before starting a new one, so the map stays the size of
        // what runs.
        running.retain(|_, shared| shared.strong_count() > 0);
        let subscribers: Subscribers = Arc::new(Mutex::new(Members {
            ended: false,
            operations: HashMap::from([(member, operation)]),
        }));
        let task = tokio::spawn(execute(self.schema.clone(), request, subscribers.clone()));
        self.metrics.shared_streams.inc();
        let shared = Arc::new(Shared {
            subscribers,
            task: task.abort_handle(),
            metrics: self.metrics.clone(),
        });
        running.insert(key, Arc::downgrade(&shared));
        Membership {
            shared,
            key: member,
            _active: active,
        }
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

/// The coalescing key of a result: field `key` of the first root field's result (`symbol`),
/// which tells apart snapshots of different things within one subscription.
pub fn result_key<'a>(response: &'a Value, key: &str) -> Option<&'a str> {
    response
        .get("data")
        .and_then(Value::as_object)
        .and_then(|data| data.values().next())
        .and_then(|root| root.get(key))
        .and_then(Value::as_str)
}

/// Runs the request once and delivers every result to every subscriber.
///
/// The task holds the subscriber list, not the [`Shared`] handle, so the last socket leaving
/// drops the handle, which aborts the task.
async fn execute(schema: FinpulseSchema, request: Request, subscribers: Subscribers) {
    let mut results = schema.execute_stream(request);
    let mut first = true;
    while let Some(response) = results.next().await {
        if first && is_request_error(&response) {
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            for op in end(&subscribers).values() {
                push(
                    op,
                    protocol::error(op.protocol, &op.id, &errors),
                    false,
                    None,
                );
                finish(op, true);
            }
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
        // Serialised once; each socket only wraps it in its own frame.
        let payload = value.to_string();
        for op in subscribers.lock().operations.values() {
            let key = coalesce_key(op, response.errors.is_empty(), &value);
            push(
                op,
                protocol::next_raw(op.protocol, &op.id, &payload),
                true,
                key,
            );
        }
    }
    for op in end(&subscribers).values() {
        finish(op, false);
    }
}

/// Closes the execution to newcomers and takes its subscribers (completion takes each socket's
/// operation lock, which must not be taken under the subscriber lock).
fn end(subscribers: &Subscribers) -> HashMap<u64, Operation> {
    let mut members = subscribers.lock();
    members.ended = true;
    std::mem::take(&mut members.operations)
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
    fn the_key_comes_from_the_first_root_field() {
        let value: Value =
            serde_json::from_str(r#"{"data":{"ticks":{"symbol":"AAPL","price":1}}}"#).unwrap();
        assert_eq!(result_key(&value, "symbol"), Some("AAPL"));
        assert_eq!(result_key(&value, "price"), None, "not a string");
        assert_eq!(
            result_key(&serde_json::json!({"data": null}), "symbol"),
            None
        );
    }
}
