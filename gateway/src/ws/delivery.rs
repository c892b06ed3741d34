//! How one operation's messages reach its socket: the operation's identity on the socket, the
//! push into the socket's outbox with its backpressure rules, and completion.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::IntCounter;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::outbox::{Outbox, Pushed};
use super::protocol::{self, Protocol};
use super::session::close;
use super::shared::Membership;
use crate::metrics::GatewayMetrics;

/// What runs an operation; stopping it ends its deliveries.
#[derive(Debug)]
pub enum OperationHandle {
    /// A task of this socket's own.
    Task(AbortHandle),
    /// A place among the subscribers of a shared execution; dropping it leaves.
    Shared(Membership),
}

impl OperationHandle {
    /// Stops deliveries to this operation.
    pub fn stop(self) {
        match self {
            Self::Task(task) => task.abort(),
            Self::Shared(membership) => drop(membership),
        }
    }
}

/// A socket's running operations by client id, with the generation that started each.
pub type Operations = Arc<Mutex<HashMap<String, (u64, OperationHandle)>>>;

/// One operation of one socket, as its deliveries see it.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The client's id.
    pub id: String,
    /// Tells a reused id's operations apart.
    pub generation: u64,
    /// The socket's protocol.
    pub protocol: Protocol,
    /// Results are snapshots told apart by this field of the result (the schema's policy): a
    /// newer one replaces a queued older one with the same value.
    pub coalesce_by: Option<&'static str>,
    /// The socket's queue.
    pub outbox: Outbox,
    /// Socket metrics.
    pub metrics: GatewayMetrics,
    /// Counters resolved once: results and control messages queued.
    pub sent_next: IntCounter,
    /// See `sent_next`.
    pub sent_control: IntCounter,
    /// The socket's operations, to free the id on completion.
    pub operations: Operations,
    /// Cancelled when the socket must go.
    pub doomed: CancellationToken,
}

/// Decrements the subscription gauge however an operation ends.
#[derive(Debug)]
pub struct Active(GatewayMetrics);

impl Active {
    /// Counts one more running operation until dropped.
    pub fn start(metrics: &GatewayMetrics) -> Self {
        metrics.subscriptions.inc();
        Self(metrics.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.subscriptions.dec();
    }
}

/// The coalescing key of a result for `op`: its id with the value of the field its policy
/// coalesces by; `None` when it does not coalesce or the result carries errors (never dropped).
pub fn coalesce_key(
    op: &Operation,
    ok: bool,
    value: &serde_json::Value,
) -> Option<(String, String)> {
    let field = op.coalesce_by.filter(|_| ok)?;
    let key = super::shared::result_key(value, field).unwrap_or_default();
    Some((op.id.clone(), key.to_owned()))
}

/// Queues a message; false when the socket is going away.
pub fn push(op: &Operation, text: String, is_result: bool, key: Option<(String, String)>) -> bool {
    let pushed = match key {
        Some(key) => op.outbox.push_latest(key, text),
        None => op.outbox.push(text),
    };
    match pushed {
        Pushed::Queued => {
            if is_result {
                op.sent_next.inc();
            } else {
                op.sent_control.inc();
            }
            true
        }
        Pushed::Coalesced => {
            op.metrics.coalesced.inc();
            true
        }
        Pushed::Closed => false,
        Pushed::Overflow => {
            warn!(operation = %op.id, "client too slow for undroppable messages; disconnecting");
            op.metrics.slow_disconnects.inc();
            op.outbox
                .close(close::SLOW_CONSUMER, "slow consumer: outbound queue full");
            op.doomed.cancel();
            false
        }
    }
}

/// Reports completion, unless the client completed the operation meanwhile: only the current
/// owner of the id frees it.
pub fn finish(op: &Operation, failed: bool) {
    let mut operations = op.operations.lock();
    if operations
        .get(&op.id)
        .is_some_and(|(g, _)| *g == op.generation)
    {
        // Dropping the handle may leave a shared execution: that takes its subscriber lock,
        // always after this one (never the other way round).
        let removed = operations.remove(&op.id);
        drop(operations);
        drop(removed);
        if !failed {
            push(op, protocol::complete(&op.id), false, None);
        }
    }
}
