//! The graphql-transport-ws rules, and the legacy subscriptions-transport-ws protocol, spoken by
//! a real WebSocket client.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Ending, Ws, spawn_app, spawn_app_with, tick};

const TRANSPORT: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";

fn closed_with(ending: &Ending, code: u16) {
    match ending {
        Ending::Closed(c, _) => assert_eq!(*c, code, "{ending:?}"),
        Ending::Dropped => panic!("expected close {code}, the socket was dropped"),
    }
}

#[tokio::test]
async fn no_connection_init_in_time_is_4408() {
    let app = spawn_app_with(|c| c.websocket.connection_init_timeout_secs = 0.2).await;
    let mut ws = app.ws(TRANSPORT).await;
    closed_with(&ws.closed().await, 4408);
    assert_eq!(
        app.metric("finpulse_ws_closes_total{code=\"4408\"}").await,
        1.0
    );
}

#[tokio::test]
async fn invalid_messages_are_4400() {
    let app = spawn_app().await;
    for bad in [
        "not json",
        r#"{"type":"subscribe"}"#,
        r#"{"type":"no_such_type"}"#,
        r#"{"type":"connection_init","payload":"a string"}"#,
        r#"{"type":"subscribe","id":"","payload":{"query":"{ symbols }"}}"#,
    ] {
        let mut ws = app.ws(TRANSPORT).await;
        if bad.contains("\"id\"") {
            ws.init(None).await;
        }
        ws.send_text(bad).await;
        closed_with(&ws.closed().await, 4400);
    }
    let mut ws = app.ws(TRANSPORT).await;
    ws.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    closed_with(&ws.closed().await, 4400);
}

use futures::SinkExt;

#[tokio::test]
async fn subscribe_before_ack_is_4401() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.subscribe("1", "{ symbols }", json!({})).await;
    closed_with(&ws.closed().await, 4401);
}

#[tokio::test]
async fn a_bad_token_in_connection_init_is_4403() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer forged"}}))
        .await;
    closed_with(&ws.closed().await, 4403);
}

#[tokio::test]
async fn a_token_that_expires_on_an_open_socket_closes_it_with_4403() {
    let app = spawn_app().await;
    let token = app.token("alice", Some(1));
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(Some(&token)).await;
    ws.subscribe("w", "subscription { watchlistInsights { id } }", json!({}))
        .await;
    let (seen, ending) = ws.drain_until_closed().await;
    assert!(seen.is_empty(), "{seen:?}");
    match ending {
        Ending::Closed(4403, reason) => assert!(reason.contains("expired"), "{reason}"),
        other => panic!("expected 4403, got {other:?}"),
    }
}

#[tokio::test]
async fn a_duplicate_operation_id_is_4409() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "same",
        r#"subscription { ticks(symbols: ["AAPL"]) { price } }"#,
        json!({}),
    )
    .await;
    ws.subscribe(
        "same",
        r#"subscription { ticks(symbols: ["MSFT"]) { price } }"#,
        json!({}),
    )
    .await;
    closed_with(&ws.closed().await, 4409);
}

#[tokio::test]
async fn a_second_connection_init_is_4429() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.send(json!({"type": "connection_init"})).await;
    closed_with(&ws.closed().await, 4429);
}

#[tokio::test]
async fn pings_get_pongs_with_their_payload() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    // Pings are allowed before the ack as well.
    ws.send(json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "pong", "payload": {"n": 1}})
    );
    ws.init(None).await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv().await["type"], "pong");
    // An unsolicited pong is fine and answered by nothing.
    ws.send(json!({"type": "pong"})).await;
    ws.send(json!({"type": "ping", "payload": "x"})).await;
    assert_eq!(ws.recv().await, json!({"type": "pong", "payload": "x"}));
}

#[tokio::test]
async fn queries_and_mutations_over_the_socket_complete_from_the_server() {
    let app = spawn_app().await;
    let token = app.token("carol", None);
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(Some(&token)).await;
    ws.subscribe(
        "q",
        r#"mutation { addToWatchlist(symbol: "NVDA") }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        ws.recv().await,
        json!({"id": "q", "type": "next", "payload": {"data": {"addToWatchlist": ["NVDA"]}}})
    );
    assert_eq!(ws.recv().await, json!({"id": "q", "type": "complete"}));
    // The id is free again once completed.
    ws.subscribe("q", "{ me }", json!({})).await;
    assert_eq!(ws.recv().await["payload"]["data"]["me"], "carol");
    assert_eq!(ws.recv().await["type"], "complete");
}

#[tokio::test]
async fn validation_errors_are_error_messages_not_closes() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe("bad", "subscription { noSuchField }", json!({}))
        .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error");
    assert_eq!(message["id"], "bad");
    assert!(
        message["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("noSuchField")
    );
    // The socket is still usable. Per-user data needs a token: like graphql-ws's reference
    // server, a subscription whose resolver fails answers `next` with the error, then `complete`.
    ws.subscribe("w", "subscription { watchlistInsights { id } }", json!({}))
        .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(ws.recv().await, json!({"id": "w", "type": "complete"}));
}

#[tokio::test]
async fn complete_from_the_client_stops_the_subscription() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "a",
        r#"subscription { ticks(symbols: ["AAPL"]) { symbol price } }"#,
        json!({}),
    )
    .await;
    ws.subscribe(
        "m",
        r#"subscription { ticks(symbols: ["MSFT"]) { symbol price } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    app.wait_for_subscribers("ticks.MSFT", 1).await;
    app.publish_ticks(&[tick("AAPL", 0, 100.0, 1.0)]).await;
    let first = ws.recv().await;
    assert_eq!(first["id"], "a");
    assert_eq!(first["payload"]["data"]["ticks"]["price"], json!(100.0));

    ws.send(json!({"id": "a", "type": "complete"})).await;
    // Once the server dropped the subscription nobody listens on the channel.
    app.wait_for_subscribers_to_leave("ticks.AAPL").await;
    app.publish_ticks(&[tick("AAPL", 1, 101.0, 1.0), tick("MSFT", 1, 400.0, 1.0)])
        .await;
    // The next message is MSFT's: AAPL's second tick was not delivered.
    let next = ws.recv().await;
    assert_eq!(next["id"], "m", "{next}");
    assert_eq!(app.metric("finpulse_ws_subscriptions").await, 1.0);
}

#[tokio::test]
async fn a_header_token_authenticates_the_socket() {
    let app = spawn_app().await;
    let token = app.token("dave", None);
    let mut ws = Ws::connect(app.port, Some(TRANSPORT), Some(&token)).await;
    ws.init(None).await;
    ws.subscribe("me", "{ me }", json!({})).await;
    assert_eq!(ws.recv().await["payload"]["data"]["me"], "dave");
}

#[tokio::test]
async fn unknown_subprotocols_are_refused() {
    let app = spawn_app().await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/graphql",
            app.port
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    let error = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");
}

#[tokio::test]
async fn the_legacy_protocol_serves_old_apollo_clients() {
    let app = spawn_app().await;
    let mut ws = app.ws(LEGACY).await;
    ws.send(json!({"type": "connection_init", "payload": {}}))
        .await;
    assert_eq!(ws.recv().await["type"], "connection_ack");
    ws.send(json!({"id": "1", "type": "start", "payload": {"query": r#"subscription { ticks(symbols: ["TSLA"]) { symbol price } }"#}}))
        .await;
    app.wait_for_subscribers("ticks.TSLA", 1).await;
    app.publish_ticks(&[tick("TSLA", 0, 250.0, 5.0)]).await;
    let data = ws.recv_skip_ka().await;
    assert_eq!(data["type"], "data");
    assert_eq!(data["id"], "1");
    assert_eq!(
        data["payload"]["data"]["ticks"],
        json!({"symbol": "TSLA", "price": 250.0})
    );
    ws.send(json!({"id": "1", "type": "stop"})).await;
    assert_eq!(
        ws.recv_skip_ka().await,
        json!({"id": "1", "type": "complete"})
    );
    ws.send(json!({"type": "connection_terminate"})).await;
    closed_with(&ws.closed().await, 1000);
}

#[tokio::test]
async fn the_legacy_protocol_reports_a_bad_token_before_closing() {
    let app = spawn_app().await;
    let mut ws = app.ws(LEGACY).await;
    ws.send(json!({"type": "connection_init", "payload": {"authToken": "forged"}}))
        .await;
    let (seen, ending) = ws.drain_until_closed().await;
    assert_eq!(
        seen.first().map(|m| m["type"].clone()),
        Some(json!("connection_error")),
        "{seen:?}"
    );
    closed_with(&ending, 4403);
}

#[tokio::test]
async fn two_users_on_the_same_per_user_subscription_never_share_an_execution_or_events() {
    let app = spawn_app().await;
    let (alice, bob) = (app.token("alice", None), app.token("bob", None));
    for (token, symbol) in [(&alice, "AAPL"), (&bob, "MSFT")] {
        let (_, body) = app
            .graphql(
                "mutation($s: String!) { addToWatchlist(symbol: $s) }",
                json!({"s": symbol}),
                Some(token),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    // The same document, byte for byte, on two sockets of two users.
    let query = "subscription { watchlistInsights(kinds: [INDICATORS]) { symbol } }";
    let mut sockets = Vec::new();
    for token in [&alice, &bob] {
        let mut ws = app.ws("graphql-transport-ws").await;
        ws.init(Some(token)).await;
        ws.subscribe("w", query, json!({})).await;
        sockets.push(ws);
    }
    // Two executions, each with its own fan-out subscription; none shared.
    app.wait_for_subscribers("insights.all", 2).await;
    assert_eq!(
        app.metric("finpulse_ws_shared_subscription_streams").await,
        0.0
    );
    for minute in 0..3 {
        app.publish_ticks(&[
            tick("AAPL", minute * 60, 190.0 + minute as f64, 1.0),
            tick("MSFT", minute * 60, 410.0 + minute as f64, 1.0),
        ])
        .await;
    }
    // Two closed candles each: every insight a user gets is of their own list.
    for (ws, symbol) in sockets.iter_mut().zip(["AAPL", "MSFT"]) {
        for _ in 0..2 {
            let message = ws.recv().await;
            assert_eq!(
                message["payload"]["data"]["watchlistInsights"]["symbol"], symbol,
                "{message}"
            );
        }
    }
}
