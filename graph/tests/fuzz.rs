//! Fuzzing the GraphQL request path below the transports: any document and variables go
//! through the limits, the parser, validation and execution against a real (SQLite) store, and
//! nothing may panic or overflow the stack. The transports themselves are fuzzed by the gateway
//! (`gateway/tests/api/fuzz.rs`). Cases: `FINPULSE_FUZZ_CASES` (default 3 000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use finpulse_bus::LocalFanOut;
use finpulse_graph::limits::{QueryLimits, prepare};
use finpulse_graph::testing::{cases, document, variables};
use finpulse_graph::{Caller, GraphContext, Principal, build_schema};
use finpulse_store::{Repositories, SqlStore};
use futures::StreamExt;
use proptest::test_runner::{Config, TestRunner};

#[test]
fn no_document_or_variables_crash_the_request_path() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let schema = runtime.block_on(async {
        let store = SqlStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let store = Repositories::of(store);
        build_schema(GraphContext::new(
            &store,
            Arc::new(LocalFanOut::default()),
            ["AAPL".to_owned()].into_iter().collect(),
        ))
    });
    let limits = QueryLimits::default();
    let total = cases(3_000);
    let mut runner = TestRunner::new(Config {
        cases: total,
        failure_persistence: None,
        ..Config::default()
    });
    let (refused, executed) = (AtomicU64::new(0), AtomicU64::new(0));
    let outcome = runner.run(&(document(), variables()), |(query, variables)| {
        match prepare(query, None, variables, &limits) {
            Err(_) => {
                refused.fetch_add(1, Ordering::Relaxed);
            }
            Ok(prepared) => {
                executed.fetch_add(1, Ordering::Relaxed);
                let request = prepared
                    .request
                    .data(Principal::user("fuzz", None))
                    .data(Caller("user:fuzz".into()));
                runtime.block_on(async {
                    // Subscriptions wait for events: their first answer (or none) is enough.
                    let mut results = schema.execute_stream(request);
                    let _ = tokio::time::timeout(Duration::from_millis(20), results.next()).await;
                });
            }
        }
        Ok(())
    });
    eprintln!(
        "fuzz graphql: {total} cases, {} refused before execution, {} executed, no crash",
        refused.into_inner(),
        executed.into_inner()
    );
    outcome.unwrap();
}
