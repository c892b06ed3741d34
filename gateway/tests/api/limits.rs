//! Query limits on every transport: documents that used to crash or freeze the server are
//! refused with a code, and legitimate large documents (GraphiQL's introspection) pass.

use serde_json::{Value, json};

use crate::helpers::{TestApp, Ws, spawn_app};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `[[[ … "A" … ]]]`, `depth` deep: about 4 KB at 2000 aborted the process by stack overflow.
fn nested_list(depth: usize) -> String {
    format!("{}\"A\"{}", "[".repeat(depth), "]".repeat(depth))
}

/// `{a: {a: … 1 … }}`, `depth` deep.
fn nested_object(depth: usize) -> String {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
}

/// `fragment F{n} on QueryRoot { ...F{n-1} ...F{n-1} }`: 1 KB of text, 2^levels fields expanded.
fn fragment_bomb(levels: usize) -> String {
    let mut query = format!("query {{ ...F{levels} }}\nfragment F0 on QueryRoot {{ symbols }}\n");
    for level in 1..=levels {
        let below = level - 1;
        query.push_str(&format!(
            "fragment F{level} on QueryRoot {{ ...F{below} ...F{below} }}\n"
        ));
    }
    query
}

async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("accept", GRAPHQL_RESPONSE)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

async fn get(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .header("accept", GRAPHQL_RESPONSE)
        .query(&[("query", query)])
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn assert_alive(app: &TestApp) {
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn deeply_nested_values_are_refused_on_every_transport_without_a_crash() {
    let app = spawn_app().await;
    let attacks = [
        format!("{{ quote(symbol: {}) {{ price }} }}", nested_list(2000)),
        format!("{{ quote(symbol: {}) {{ price }} }}", nested_object(2000)),
        format!(
            "query($s: [String] = {}) {{ quote(symbol: \"A\") {{ price }} }}",
            nested_list(2000)
        ),
        format!(
            "{{ quote(symbol: \"A\") @skip(if: {}) {{ price }} }}",
            nested_list(2000)
        ),
    ];
    for attack in &attacks {
        let (status, body) = post(&app, json!({ "query": attack })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(code(&body), "QUERY_TOO_DEEP", "{body}");
        assert!(body.get("data").is_none(), "{body}");
        let (status, body) = get(&app, attack).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(code(&body), "QUERY_TOO_DEEP", "{body}");
    }
    let mut ws = Ws::connect(app.port, Some("graphql-transport-ws"), None).await;
    ws.init(None).await;
    ws.subscribe(
        "deep",
        &format!(
            "subscription {{ ticks(symbols: {}) {{ price }} }}",
            nested_list(2000)
        ),
        json!({}),
    )
    .await;
    let error = ws.recv().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "deep");
    assert_eq!(error["payload"][0]["extensions"]["code"], "QUERY_TOO_DEEP");
    assert_alive(&app).await;
}

#[tokio::test]
async fn deep_variables_are_refused() {
    let app = spawn_app().await;
    let mut value = json!("A");
    for _ in 0..100 {
        value = json!([value]);
    }
    let (status, body) = post(
        &app,
        json!({"query": "query($s: String) { quote(symbol: $s) { price } }", "variables": {"s": value}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "QUERY_TOO_DEEP", "{body}");
}

#[tokio::test]
async fn fragment_bombs_are_refused_by_their_expanded_size() {
    let app = spawn_app().await;
    let bomb = fragment_bomb(24);
    assert!(
        bomb.len() < 2048,
        "the attack is small: {} bytes",
        bomb.len()
    );
    let (status, body) = post(&app, json!({ "query": bomb })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("16777216 fields"), "{message}");
    // A small expansion of the same shape still runs.
    let (status, body) = post(&app, json!({ "query": fragment_bomb(3) })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_alive(&app).await;
}

#[tokio::test]
async fn too_many_fragments_aliases_and_tokens_are_refused() {
    let app = spawn_app().await;
    let aliases: String = (0..300).map(|i| format!("a{i}: symbols ")).collect();
    let (_, body) = post(&app, json!({ "query": format!("{{ {aliases} }}") })).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let fragments: String = (0..150)
        .map(|i| format!("fragment F{i} on QueryRoot {{ symbols }} "))
        .collect();
    let (_, body) = post(
        &app,
        json!({ "query": format!("{{ symbols }} {fragments}") }),
    )
    .await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let tokens = format!("{{ {} }}", "symbols ".repeat(30_000));
    let (_, body) = post(&app, json!({ "query": tokens })).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
}

#[tokio::test]
async fn graphiql_introspection_query_is_answered() {
    let app = spawn_app().await;
    let query = include_str!("../fixtures/introspection-query.graphql");
    let (status, body) = post(&app, json!({ "query": query })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Insight"), "{types:?}");
}

#[tokio::test]
async fn a_missing_required_variable_is_a_request_error() {
    let app = spawn_app().await;
    let (status, body) = post(
        &app,
        json!({"query": "query($s: String!) { quote(symbol: $s) { price } }"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test]
async fn subscriptions_to_unknown_symbols_are_refused() {
    let app = spawn_app().await;
    // The server's own channels (the support desk listens for FAQ changes) are there before
    // any client's.
    let baseline = app.metric("finpulse_fanout_channels").await;
    let mut ws = Ws::connect(app.port, Some("graphql-transport-ws"), None).await;
    ws.init(None).await;
    for (id, query) in [
        (
            "t",
            r#"subscription { ticks(symbols: ["AAPL", "NOPE42"]) { price } }"#,
        ),
        (
            "c",
            r#"subscription { candles(symbol: "NOPE42") { close } }"#,
        ),
        (
            "i",
            r#"subscription { insights(symbols: ["NOPE42"]) { id } }"#,
        ),
    ] {
        ws.subscribe(id, query, json!({})).await;
        // Refused by the resolver: `next` with the error, then `complete`.
        let error = ws.recv().await;
        assert_eq!(error["type"], "next", "{error}");
        assert_eq!(
            error["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{error}"
        );
        assert_eq!(ws.recv().await, json!({"id": id, "type": "complete"}));
    }
    assert_eq!(app.metric("finpulse_fanout_channels").await, baseline);
}

#[tokio::test]
async fn channels_live_only_while_someone_subscribes_and_are_bounded() {
    let instruments: Vec<String> = (0..200).map(|i| format!("SYM{i}")).collect();
    let app = crate::helpers::spawn_app_with(|c| {
        c.market.instruments = instruments.clone();
        c.fanout.max_channels = 50;
        // 4 000 messages on one socket in a few seconds: not what this test is about.
        c.limits.socket_messages_per_second = 100_000;
        c.limits.socket_message_burst = 100_000;
    })
    .await;
    // The server's own channels (the support desk listens for FAQ changes) count towards the
    // bound too.
    let baseline = app.metric("finpulse_fanout_channels").await;
    let mut ws = Ws::connect(app.port, Some("graphql-transport-ws"), None).await;
    ws.init(None).await;
    // 2 000 subscribe/complete cycles over 200 symbols, 20 subscriptions open at a time.
    for round in 0..100 {
        for slot in 0..20 {
            let symbol = &instruments[(round * 7 + slot * 13) % instruments.len()];
            let query = format!("subscription {{ ticks(symbols: [\"{symbol}\"]) {{ price }} }}");
            ws.subscribe(&format!("s{slot}"), &query, json!({})).await;
        }
        app.wait_for_metric("finpulse_ws_subscriptions", 20.0).await;
        for slot in 0..20 {
            ws.send(json!({"id": format!("s{slot}"), "type": "complete"}))
                .await;
        }
        app.wait_for_metric_below("finpulse_ws_subscriptions", 1.0)
            .await;
    }
    app.wait_for_metric_below("finpulse_fanout_channels", baseline + 1.0)
        .await;
    // Past the bound, a new channel is refused and counted.
    for i in 0..(50 - baseline as usize) {
        let query = format!("subscription {{ ticks(symbols: [\"SYM{i}\"]) {{ price }} }}");
        ws.subscribe(&format!("k{i}"), &query, json!({})).await;
    }
    app.wait_for_metric("finpulse_fanout_channels", 50.0).await;
    ws.subscribe(
        "over",
        r#"subscription { ticks(symbols: ["SYM150"]) { price } }"#,
        json!({}),
    )
    .await;
    let error = ws.recv().await;
    assert_eq!(error["id"], "over", "{error}");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{error}"
    );
    assert_eq!(
        app.metric("finpulse_fanout_refused_subscriptions_total")
            .await,
        1.0
    );
    drop(ws);
    app.wait_for_metric_below("finpulse_fanout_channels", baseline + 1.0)
        .await;
}
