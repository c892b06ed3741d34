//! The one way a GraphQL request from any transport becomes an executable request: the limits of
//! [`finpulse_graph::limits`], run off the async workers with a deadline, so no document can
//! hold a worker thread (and with it `/healthz` and the tick pipeline) for long.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;
use finpulse_graph::limits::{self, Prepared, QueryLimits, QueryRefused, RefusalKind};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

pub use finpulse_graph::limits::OperationInfo;

/// Runs [`limits::prepare`] on the blocking pool, a bounded number at a time.
#[derive(Clone)]
pub struct Preparer {
    limits: Arc<QueryLimits>,
    /// Preparations running at once; later ones wait (within their deadline) so a flood of
    /// large documents cannot take every blocking thread.
    permits: Arc<Semaphore>,
}

impl Preparer {
    /// A preparer enforcing `limits`.
    pub fn new(limits: QueryLimits) -> Self {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            limits: Arc::new(limits),
            permits: Arc::new(Semaphore::new(parallel * 2)),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Checks, parses and wraps one request, or says why not.
    pub async fn prepare(
        &self,
        query: String,
        operation_name: Option<String>,
        variables: Option<Map<String, Value>>,
    ) -> Result<Prepared, ServerError> {
        let deadline = Duration::from_millis(self.limits.prepare_timeout_ms);
        let limits = self.limits.clone();
        let permits = self.permits.clone();
        let work = async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| ServerError::new("server shutting down", None))?;
            tokio::task::spawn_blocking(move || {
                limits::prepare(query, operation_name, variables, &limits)
            })
            .await
            .map_err(|_| ServerError::new("internal error", None))?
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(QueryRefused::new(
                RefusalKind::Timeout,
                format!(
                    "the query could not be checked within {} ms",
                    self.limits.prepare_timeout_ms
                ),
            )
            .into()),
        }
    }
}
