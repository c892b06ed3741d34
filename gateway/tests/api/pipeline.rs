//! From a tick in the event log to a subscriber's socket: delivery, dead-lettering,
//! backpressure and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use finpulse_market::events::{DeadLetter, TICKS_DEAD_LETTER_TOPIC, TICKS_TOPIC};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{ClientConfig, Message as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Ending, PATIENCE, Ws, spawn_app, spawn_app_with, tick};

const TRANSPORT: &str = "graphql-transport-ws";

#[tokio::test]
async fn insights_and_candles_reach_subscribers_with_their_publish_time() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "aapl",
        r#"subscription { insights(symbols: ["AAPL"], kinds: [INDICATORS]) { id symbol kind ts publishedAt } }"#,
        json!({}),
    )
    .await;
    ws.subscribe(
        "all",
        "subscription { insights { symbol kind } }",
        json!({}),
    )
    .await;
    ws.subscribe(
        "c",
        r#"subscription { candles(symbol: "MSFT") { close trades } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("insights.AAPL", 1).await;
    app.wait_for_subscribers("insights.all", 1).await;
    app.wait_for_subscribers("candles.MSFT.60", 1).await;

    app.publish_ticks(&[
        tick("AAPL", 0, 100.0, 1.0),
        tick("MSFT", 1, 400.0, 1.0),
        tick("AAPL", 61, 101.0, 1.0),
    ])
    .await;
    let mut by_id: std::collections::HashMap<String, Vec<Value>> = Default::default();
    while by_id.values().map(Vec::len).sum::<usize>() < 3 {
        let message = ws.recv().await;
        assert_eq!(message["type"], "next", "{message}");
        by_id
            .entry(message["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(message["payload"]["data"].clone());
    }
    let insight = &by_id["aapl"][0]["insights"];
    assert_eq!(insight["symbol"], "AAPL");
    assert_eq!(insight["kind"], "INDICATORS");
    assert_eq!(insight["ts"], "2026-03-02T14:31:00+00:00");
    assert!(insight["publishedAt"].is_string(), "{insight}");
    assert_eq!(
        by_id["all"][0]["insights"],
        json!({"symbol": "AAPL", "kind": "INDICATORS"})
    );
    assert_eq!(
        by_id["c"][0]["candles"],
        json!({"close": 400.0, "trades": 1})
    );
}

#[tokio::test]
async fn watchlist_insights_follow_the_list_as_it_changes() {
    let app = spawn_app().await;
    let token = app.token("erin", None);
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(Some(&token)).await;
    ws.subscribe(
        "w",
        "subscription { watchlistInsights(kinds: [INDICATORS]) { symbol } }",
        json!({}),
    )
    .await;
    app.wait_for_subscribers("insights.all", 1).await;

    // Not watched yet: nothing arrives for JPM's first closed candle.
    app.publish_ticks(&[tick("JPM", 0, 200.0, 1.0), tick("JPM", 60, 201.0, 1.0)])
        .await;
    app.handle.wait_until_drained().await;
    app.graphql(
        r#"mutation { addToWatchlist(symbol: "JPM") }"#,
        json!({}),
        Some(&token),
    )
    .await;
    // The list change travels through the fan-out; send JPM candles until one comes through.
    let mut second = 120;
    let message = loop {
        app.publish_ticks(&[
            tick("JPM", second, 202.0, 1.0),
            tick("AMZN", second, 180.0, 1.0),
        ])
        .await;
        second += 60;
        if let Ok(message) =
            tokio::time::timeout(std::time::Duration::from_millis(200), ws.recv()).await
        {
            break message;
        }
        assert!(second < 60 * 200, "watchlist change never took effect");
    };
    assert_eq!(
        message["payload"]["data"]["watchlistInsights"]["symbol"],
        "JPM"
    );
    // AMZN is not on the list: only JPM insights ever come.
    app.publish_ticks(&[
        tick("AMZN", second, 181.0, 1.0),
        tick("JPM", second, 203.0, 1.0),
    ])
    .await;
    assert_eq!(
        ws.recv().await["payload"]["data"]["watchlistInsights"]["symbol"],
        "JPM"
    );
}

/// A socket whose client reads nothing until told, with a tiny receive buffer so the server's
/// writes back up quickly.
async fn stalled_socket(port: u16) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/graphql")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", TRANSPORT.parse().unwrap());
    let (socket, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    Ws { socket }
}

#[tokio::test]
async fn ticks_for_a_slow_client_are_coalesced_to_the_latest() {
    let app = spawn_app().await;
    let mut slow = stalled_socket(app.port).await;
    slow.init(None).await;
    slow.subscribe(
        "t",
        r#"subscription { ticks(symbols: ["AAPL", "MSFT"]) { symbol price } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    let count = 20_000;
    let ticks: Vec<_> = (0..count)
        .flat_map(|i| {
            let price = 100.0 + f64::from(i) / 100.0;
            [
                tick("AAPL", i64::from(i), price, 1.0),
                tick("MSFT", i64::from(i), price * 4.0, 1.0),
            ]
        })
        .collect();
    app.publish_ticks(&ticks).await;
    app.handle.wait_until_drained().await;
    let last_aapl = 100.0 + f64::from(count - 1) / 100.0;

    // Now read: the last tick of each symbol always arrives, most of those in between do not.
    let mut received = 0;
    let (mut aapl_done, mut msft_done) = (false, false);
    while !(aapl_done && msft_done) {
        let message = slow.recv().await;
        received += 1;
        let tick = &message["payload"]["data"]["ticks"];
        let price = tick["price"].as_f64().unwrap();
        match tick["symbol"].as_str().unwrap() {
            "AAPL" => aapl_done = (price - last_aapl).abs() < 1e-9,
            _ => msft_done = (price - last_aapl * 4.0).abs() < 1e-9,
        }
    }
    assert!(
        received < 2 * count as usize,
        "nothing was coalesced: {received} messages"
    );
    let coalesced = app.metric("finpulse_ws_coalesced_messages_total").await;
    // A tick the subscription never saw because it fell a channel buffer behind is counted too.
    let lagged = app
        .metric("finpulse_fanout_lagged_messages_total{kind=\"ticks\"}")
        .await;
    assert!(coalesced > 0.0);
    assert_eq!(
        (coalesced + lagged) as usize + received,
        2 * count as usize,
        "every tick is sent, coalesced or counted as lagged"
    );
}

#[tokio::test]
async fn a_client_too_slow_for_insights_is_disconnected_and_delays_nobody() {
    let app = spawn_app_with(|c| {
        c.websocket.outbound_queue = 128;
        c.websocket.socket_send_buffer_bytes = Some(8192);
    })
    .await;
    let query = "subscription { insights(kinds: [INDICATORS]) { id symbol message indicators } }";
    let mut slow = stalled_socket(app.port).await;
    slow.init(None).await;
    slow.subscribe("i", query, json!({})).await;
    let mut fast = app.ws(TRANSPORT).await;
    fast.init(None).await;
    fast.subscribe("i", query, json!({})).await;
    // Both sockets run one shared execution: one fan-out subscription, two operations.
    app.wait_for_subscribers("insights.all", 1).await;
    app.wait_for_metric("finpulse_ws_subscriptions", 2.0).await;

    let received = Arc::new(AtomicUsize::new(0));
    let lagged = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (received, lagged) = (received.clone(), lagged.clone());
        tokio::spawn(async move {
            loop {
                let message = fast.recv().await;
                if message["payload"]["errors"].is_array() {
                    lagged.fetch_add(1, Ordering::SeqCst);
                } else {
                    received.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };

    // One tick per symbol a minute: from the second minute on, each tick closes a candle and
    // yields exactly one INDICATORS insight. Send in rounds and let the fast client catch up.
    let symbols = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "JPM", "BTC-USD",
    ];
    let mut expected = 0;
    for round in 0..60 {
        let mut ticks = Vec::new();
        for minute in round * 10..(round + 1) * 10 {
            for (i, symbol) in symbols.iter().enumerate() {
                ticks.push(tick(
                    symbol,
                    minute * 60,
                    100.0 + i as f64 + minute as f64 * 0.1,
                    1.0,
                ));
                if minute > 0 {
                    expected += 1;
                }
            }
        }
        app.publish_ticks(&ticks).await;
        tokio::time::timeout(PATIENCE, async {
            while received.load(Ordering::SeqCst) < expected {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the fast client keeps receiving");
    }
    reader.abort();
    assert_eq!(received.load(Ordering::SeqCst), expected);
    assert_eq!(lagged.load(Ordering::SeqCst), 0);
    assert_eq!(
        app.metric("finpulse_ws_slow_consumer_disconnects_total")
            .await,
        1.0
    );

    // The slow client finds its socket ended: with close 1008 when the frame got through.
    let (seen, ending) = slow.drain_until_closed().await;
    assert!(
        seen.len() < expected,
        "the slow client cannot have had everything"
    );
    match ending {
        Ending::Closed(code, reason) => {
            assert_eq!(code, 1008);
            assert!(reason.contains("slow consumer"), "{reason}");
        }
        Ending::Dropped => {}
    }
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_stops_cleanly() {
    let mut app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "t",
        r#"subscription { ticks(symbols: ["AAPL"]) { price } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    app.publish_ticks(&[tick("AAPL", 0, 100.0, 1.0)]).await;
    assert_eq!(ws.recv().await["type"], "next");

    app.handle.shutdown();
    match ws.closed().await {
        Ending::Closed(code, _) => assert_eq!(code, 1001),
        Ending::Dropped => panic!("socket dropped without a close frame"),
    }
    let server = app.server.take().unwrap();
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("server stops")
        .unwrap()
        .expect("clean stop");
}

#[tokio::test]
async fn with_the_simulator_on_insights_arrive_within_seconds() {
    let app = spawn_app_with(|c| {
        c.market.simulator.enabled = true;
        c.market.simulator.warmup_minutes = 30;
        c.market.simulator.speed = 120.0;
    })
    .await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "i",
        "subscription { insights { symbol kind message publishedAt } }",
        json!({}),
    )
    .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"]["data"]["insights"]["message"].is_string());
    let symbol = message["payload"]["data"]["insights"]["symbol"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app.graphql("{ symbols }", json!({}), None).await;
    assert!(
        body["data"]["symbols"]
            .as_array()
            .unwrap()
            .contains(&json!(symbol)),
        "{body}"
    );
}

#[tokio::test]
async fn sockets_running_the_same_public_subscription_share_one_execution() {
    let app = spawn_app().await;
    let query = r#"subscription($s: [String!]!) { ticks(symbols: $s) { symbol price } }"#;
    let mut sockets = Vec::new();
    for i in 0..5 {
        let mut ws = app.ws(TRANSPORT).await;
        ws.init(None).await;
        ws.subscribe(&format!("id-{i}"), query, json!({"s": ["AAPL"]}))
            .await;
        sockets.push(ws);
    }
    // A different variable is a different execution.
    let mut other = app.ws(TRANSPORT).await;
    other.init(None).await;
    other.subscribe("x", query, json!({"s": ["MSFT"]})).await;
    app.wait_for_subscribers("ticks.AAPL", 1).await;
    app.wait_for_subscribers("ticks.MSFT", 1).await;
    assert_eq!(app.metric("finpulse_ws_subscriptions").await, 6.0);
    assert_eq!(
        app.metric("finpulse_ws_shared_subscription_streams").await,
        2.0
    );
    assert_eq!(app.handle.fanout().local_subscribers("ticks.AAPL"), 1);

    app.publish_ticks(&[tick("AAPL", 0, 123.5, 1.0)]).await;
    for (i, ws) in sockets.iter_mut().enumerate() {
        assert_eq!(
            ws.recv().await,
            json!({"id": format!("id-{i}"), "type": "next", "payload": {"data": {"ticks": {"symbol": "AAPL", "price": 123.5}}}})
        );
    }
    // Once every socket left, the execution stops and its fan-out subscription goes.
    for (i, ws) in sockets.iter_mut().enumerate() {
        ws.send(json!({"id": format!("id-{i}"), "type": "complete"}))
            .await;
    }
    app.wait_for_subscribers_to_leave("ticks.AAPL").await;
    assert_eq!(
        app.metric("finpulse_ws_shared_subscription_streams").await,
        1.0
    );
}

#[tokio::test]
async fn a_failing_shared_subscription_fails_for_every_socket_and_frees_the_ids() {
    let app = spawn_app().await;
    let mut a = app.ws(TRANSPORT).await;
    let mut b = app.ws(TRANSPORT).await;
    a.init(None).await;
    b.init(None).await;
    // Invalid before execution (a required argument is missing): `error`, no `complete`.
    for ws in [&mut a, &mut b] {
        ws.subscribe("s", "subscription { ticks { price } }", json!({}))
            .await;
        let message = ws.recv().await;
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], "s");
    }
    // Fails in the resolver (a symbol that cannot exist): `next` with the error, then `complete`.
    for ws in [&mut a, &mut b] {
        ws.subscribe(
            "s",
            r#"subscription { ticks(symbols: [""]) { price } }"#,
            json!({}),
        )
        .await;
        let message = ws.recv().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(
            message["payload"]["errors"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
        assert_eq!(ws.recv().await, json!({"id": "s", "type": "complete"}));
    }
    app.wait_for_metric_below("finpulse_ws_shared_subscription_streams", 1.0)
        .await;
    assert_eq!(app.metric("finpulse_ws_subscriptions").await, 0.0);
}

#[tokio::test]
async fn on_kafka_ticks_flow_to_subscribers_and_poison_is_parked() {
    let brokers =
        std::env::var("FP_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let dead_letter_reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("{namespace}.dead-letter-reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("kafka consumer");
    let dead_letter_topic = format!("{namespace}.{TICKS_DEAD_LETTER_TOPIC}");
    let app = spawn_app_with(|c| {
        c.kafka_brokers = Some(brokers);
        c.kafka.session_timeout_ms = 3_000;
        c.kafka.heartbeat_interval_ms = 500;
        c.kafka.max_poll_interval_ms = 10_000;
        c.log.partitions = 3;
        c.log.namespace = Some(namespace);
    })
    .await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "i",
        r#"subscription { insights(symbols: ["JPM"], kinds: [INDICATORS]) { symbol ts } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("insights.JPM", 1).await;

    app.handle
        .log()
        .append(
            TICKS_TOPIC,
            "JPM",
            bytes::Bytes::from_static(b"\x00 not an event"),
        )
        .await
        .unwrap();
    app.publish_ticks(&[tick("JPM", 0, 200.0, 1.0), tick("JPM", 60, 201.0, 1.0)])
        .await;
    let message = ws.recv().await;
    assert_eq!(
        message["payload"]["data"]["insights"],
        json!({"symbol": "JPM", "ts": "2026-03-02T14:31:00+00:00"})
    );
    app.handle.wait_until_drained().await;
    assert_eq!(
        app.metric_sum("finpulse_processor_parked_events_total{")
            .await,
        1.0
    );
    let (_, body) = app
        .graphql(r#"{ quote(symbol: "JPM") { price } }"#, json!({}), None)
        .await;
    assert_eq!(body["data"]["quote"]["price"], json!(201.0));

    // The poison is on the Kafka dead-letter topic, whole, with its key and the reason.
    dead_letter_reader
        .subscribe(&[&dead_letter_topic])
        .expect("subscribe");
    let message = tokio::time::timeout(PATIENCE, dead_letter_reader.recv())
        .await
        .expect("a dead letter arrives")
        .expect("read");
    assert_eq!(message.key(), Some(&b"JPM"[..]));
    let letter: DeadLetter = serde_json::from_slice(message.payload().unwrap()).unwrap();
    assert_eq!(letter.reason_code, "malformed");
    assert_eq!(letter.topic, "market.ticks");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&letter.payload_base64)
            .unwrap(),
        b"\x00 not an event"
    );
}

#[tokio::test]
async fn a_pushed_tick_carries_the_id_of_its_event_so_repeats_can_be_dropped() {
    let app = spawn_app_with(|c| c.market.instruments = vec!["IBM".into()]).await;
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "t",
        r#"subscription { ticks(symbols: ["IBM"]) { id price } }"#,
        json!({}),
    )
    .await;
    app.wait_for_subscribers("ticks.IBM", 1).await;
    let envelope = finpulse_bus::Envelope::wrap(&tick("IBM", 0, 150.0, 1.0)).unwrap();
    // The same event twice, as a redelivery after a crash would bring it.
    for _ in 0..2 {
        app.handle
            .log()
            .append(TICKS_TOPIC, "IBM", envelope.to_bytes().unwrap().into())
            .await
            .unwrap();
    }
    let first = ws.recv().await;
    assert_eq!(
        first["payload"]["data"]["ticks"],
        json!({"id": envelope.id.to_string(), "price": 150.0})
    );
}
