//! Fuzzing the transports of a running server: random GraphQL-over-HTTP bodies (`POST`), query
//! strings (`GET`) and WebSocket messages. Every request gets an answer that is not a server
//! error, every socket that ends is closed with a code (never dropped), and the server serves on.
//! Cases: `FINPULSE_FUZZ_CASES` (default 400 per transport).

use finpulse_graph::testing::{cases, document, json, variables};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json as object};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{PATIENCE, TestApp, Ws, spawn_app_with};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

async fn fuzz_app() -> TestApp {
    spawn_app_with(|c| {
        // The fuzzer is one client sending as fast as it can: rates are not what it tests.
        c.limits.requests_per_second_per_ip = 1_000_000;
        c.limits.request_burst_per_ip = 1_000_000;
        c.limits.socket_messages_per_second = 1_000_000;
        c.limits.socket_message_burst = 1_000_000;
    })
    .await
}

/// Bodies: GraphQL requests of any document and variables, JSON of the wrong shape, or bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (document(), variables(), proptest::option::of("[A-Za-z]{0,5}")).prop_map(
            |(query, variables, name)| object!({"query": query, "variables": variables, "operationName": name})
                .to_string()
                .into_bytes()
        ),
        2 => json(3).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn server_survived(status: u16) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "server error {status}");
    Ok(())
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_http_request_makes_a_server_error_or_a_crash() {
    let app = fuzz_app().await;
    let total = cases(400);
    let url = format!("{}/graphql", app.address);
    runner(total)
        .run(&(body(), any::<bool>()), |(body, as_json)| {
            let content_type = if as_json {
                "application/json"
            } else {
                "text/plain"
            };
            let status = block_on(
                app.http
                    .post(&url)
                    .header("content-type", content_type)
                    .body(body)
                    .send(),
            )
            .expect("the server answers")
            .status()
            .as_u16();
            server_survived(status)
        })
        .unwrap();
    runner(total)
        .run(&(document(), variables()), |(query, variables)| {
            let mut params = vec![("query", query)];
            if let Some(variables) = variables {
                params.push(("variables", Value::Object(variables).to_string()));
            }
            let status = block_on(app.http.get(&url).query(&params).send())
                .expect("the server answers")
                .status()
                .as_u16();
            server_survived(status)
        })
        .unwrap();
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert_eq!(health.unwrap().status(), 200);
    eprintln!("fuzz http: {total} POST bodies and {total} GET queries, no server error, no crash");
}

/// Socket messages: subscribes of any document, other protocol messages, JSON, text.
fn socket_message() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => (document(), variables(), "[a-z0-9]{1,3}").prop_map(|(query, variables, id)| {
            object!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}).to_string()
        }),
        2 => (proptest::sample::select(&["ping", "pong", "complete", "connection_init", "next", "start", "stop"][..]), json(2))
            .prop_map(|(kind, payload)| object!({"type": kind, "id": "1", "payload": payload}).to_string()),
        1 => json(3).prop_map(|v| v.to_string()),
        1 => "[ -~]{0,40}",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_socket_message_crashes_the_server_or_drops_a_socket_without_a_close() {
    let app = fuzz_app().await;
    let total = cases(400);
    // The runner's closure is `Fn`: the socket between cases lives behind a lock.
    let socket = tokio::sync::Mutex::new(None::<Ws>);
    let closes = std::sync::atomic::AtomicU64::new(0);
    runner(total)
        .run(&socket_message(), |message| {
            block_on(async {
                let mut guard = socket.lock().await;
                if guard.is_none() {
                    let mut ws = Ws::connect(app.port, Some("graphql-transport-ws"), None).await;
                    ws.init(None).await;
                    *guard = Some(ws);
                }
                let ws = guard.as_mut().expect("connected above");
                if ws.socket.send(Message::Text(message.into())).await.is_err() {
                    *guard = None;
                    return Ok(());
                }
                // Whatever comes back within a moment; a close must carry a code.
                let answer =
                    tokio::time::timeout(std::time::Duration::from_millis(20), ws.socket.next())
                        .await;
                match answer {
                    Ok(Some(Ok(Message::Close(frame)))) => {
                        prop_assert!(frame.is_some(), "closed without a code");
                        closes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        *guard = None;
                    }
                    Ok(None) | Ok(Some(Err(_))) => {
                        prop_assert!(false, "the socket was dropped without a close frame");
                    }
                    Ok(Some(Ok(_))) | Err(_) => {}
                }
                Ok(())
            })
        })
        .unwrap();
    drop(socket);
    let health = tokio::time::timeout(
        PATIENCE,
        app.http.get(format!("{}/healthz", app.address)).send(),
    )
    .await
    .expect("the server answers");
    assert_eq!(health.unwrap().status(), 200);
    eprintln!(
        "fuzz websocket: {total} messages, {} sockets closed with a code, no crash",
        closes.into_inner()
    );
}
