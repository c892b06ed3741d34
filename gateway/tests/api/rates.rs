//! Rate, connection and time limits as a misbehaving client meets them.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Ending, PATIENCE, TestApp, Ws, spawn_app_with};

const TRANSPORT: &str = "graphql-transport-ws";

async fn post_symbols(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": "{ symbols }"}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request sent")
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection");
        match read {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn requests_past_the_per_address_rate_get_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.limits.requests_per_second_per_ip = 1;
        c.limits.request_burst_per_ip = 5;
    })
    .await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..10 {
        let response = post_symbols(&app, None).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            refused = Some(response);
        }
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    let refused = refused.expect("a request past the burst is refused");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // Operations endpoints are not client routes: a monitor is never refused.
    for _ in 0..10 {
        let health = app
            .http
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    assert!(
        app.metric("finpulse_rate_limited_total{limit=\"ip\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn a_signed_in_user_has_a_rate_of_their_own() {
    let app = spawn_app_with(|c| {
        c.limits.requests_per_second_per_user = 1;
        c.limits.request_burst_per_user = 3;
    })
    .await;
    let token = app.token("alice", None);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(post_symbols(&app, Some(&token)).await.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200; 3], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another user, and anonymous requests, are not held back by alice.
    let bob = app.token("bob", None);
    assert_eq!(post_symbols(&app, Some(&bob)).await.status(), 200);
    assert_eq!(post_symbols(&app, None).await.status(), 200);
}

#[tokio::test]
async fn connections_past_the_per_address_limit_are_closed_on_accept() {
    let app = spawn_app_with(|c| c.limits.connections_per_ip = 2).await;
    let address = format!("127.0.0.1:{}", app.port);
    let first = TcpStream::connect(&address).await.unwrap();
    let mut second = TcpStream::connect(&address).await.unwrap();
    // Both are accepted and counted before the third arrives.
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    let n = tokio::time::timeout(PATIENCE, second.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
    let mut third = TcpStream::connect(&address).await.unwrap();
    assert!(read_until_closed(&mut third).await.is_empty());
    drop((first, second));
    app.wait_for_metric(
        "finpulse_http_refused_connections_total{reason=\"per_ip\"}",
        1.0,
    )
    .await;
}

#[tokio::test]
async fn connections_that_send_nothing_or_half_a_header_are_closed() {
    let app = spawn_app_with(|c| c.limits.header_read_timeout_secs = 0.5).await;
    let address = format!("127.0.0.1:{}", app.port);
    let mut silent = TcpStream::connect(&address).await.unwrap();
    let mut half = TcpStream::connect(&address).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut silent).await;
    read_until_closed(&mut half).await;
    // An idle keep-alive connection goes the same way after its response.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut idle).await;
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{seen:?}");
}

#[tokio::test]
async fn sockets_are_pinged_and_closed_when_no_pong_comes_back() {
    let app = spawn_app_with(|c| c.websocket.keepalive_secs = 1.0).await;
    // A client that reads (and so answers pings, as tungstenite does) stays.
    let mut lively = Ws::connect(app.port, Some(TRANSPORT), None).await;
    lively.init(None).await;
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(3_500);
    while let Ok(frame) = tokio::time::timeout_at(until, lively.socket.next()).await {
        match frame {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("the socket should stay open and quiet, got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings");
    drop(lively);
    // A client that reads nothing never answers: after two intervals it is taken for gone.
    let mut deaf = Ws::connect(app.port, Some(TRANSPORT), None).await;
    deaf.init(None).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    // The server sent 1001 and closed; whether this client, answering a close it read late,
    // still sees the frame or only the closed connection is a race of its own: the server's
    // count of 1001 closes says what it did.
    let ending = deaf.closed().await;
    assert!(
        matches!(ending, Ending::Closed(1001, _) | Ending::Dropped),
        "{ending:?}"
    );
    assert_eq!(
        app.metric(r#"finpulse_ws_closes_total{code="1001"}"#).await,
        1.0
    );
    assert_eq!(
        app.metric("finpulse_ws_keepalive_timeouts_total").await,
        1.0
    );
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let app = spawn_app_with(|_| {}).await;
    let mut ws = Ws::connect(app.port, Some(TRANSPORT), None).await;
    ws.init(None).await;
    let huge = format!(
        r#"{{"type":"subscribe","id":"1","payload":{{"query":"{}"}}}}"#,
        "x".repeat(300 * 1024)
    );
    // The server may close before the whole frame is written.
    let _ = ws.socket.send(Message::Text(huge.into())).await;
    match ws.closed().await {
        Ending::Closed(code, reason) => {
            assert_eq!(code, 1009, "{reason}");
            assert!(reason.contains("too big"), "{reason}");
        }
        Ending::Dropped => panic!("the socket must be closed with 1009, not dropped"),
    }
}

#[tokio::test]
async fn a_socket_sending_faster_than_its_rate_is_closed_with_1008() {
    let app = spawn_app_with(|c| {
        c.limits.socket_messages_per_second = 1;
        c.limits.socket_message_burst = 5;
    })
    .await;
    let mut ws = Ws::connect(app.port, Some(TRANSPORT), None).await;
    ws.init(None).await;
    for _ in 0..20 {
        if ws
            .socket
            .send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let (_, ending) = ws.drain_until_closed().await;
    assert!(
        matches!(&ending, Ending::Closed(1008, reason) if reason.contains("too many messages")),
        "{ending:?}"
    );
}

#[tokio::test]
async fn sockets_are_limited_per_address_and_per_user() {
    let app = spawn_app_with(|c| {
        c.limits.sockets_per_ip = 3;
        c.limits.sockets_per_user = 1;
    })
    .await;
    let alice = app.token("alice", None);
    let mut first = Ws::connect(app.port, Some(TRANSPORT), Some(&alice)).await;
    first.init(None).await;
    // Alice's second socket, with the token in the header: refused before the upgrade.
    let request = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}/graphql", app.port)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("Sec-WebSocket-Protocol", TRANSPORT.parse().unwrap());
        headers.insert("Authorization", format!("Bearer {alice}").parse().unwrap());
        request
    };
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected 429, got {other:?}"),
    }
    // With the token in `connection_init` instead: closed with 1008.
    let mut second = Ws::connect(app.port, Some(TRANSPORT), None).await;
    second
        .send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {alice}")}}))
        .await;
    assert!(matches!(second.closed().await, Ending::Closed(1008, _)));
    app.wait_for_metric_below("finpulse_ws_connections", 2.0)
        .await;
    // Alice's socket and two anonymous ones fill this address's places; a fourth is refused.
    let _a = Ws::connect(app.port, Some(TRANSPORT), None).await;
    let _b = Ws::connect(app.port, Some(TRANSPORT), None).await;
    let upgrade =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/graphql", app.port)).await;
    assert!(
        matches!(&upgrade, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429),
        "{upgrade:?}"
    );
    drop(first);
}
