//! GraphQL over HTTP, identity, and the operations endpoints.

use serde_json::json;

use crate::helpers::{approx, spawn_app, tick};

#[tokio::test]
async fn queries_read_what_the_processor_wrote() {
    let app = spawn_app().await;
    // Three minutes of AAPL and one MSFT tick: two closed AAPL candles and the open one.
    let mut ticks = Vec::new();
    for second in 0..180 {
        ticks.push(tick("AAPL", second, 100.0 + second as f64 * 0.01, 10.0));
    }
    ticks.push(tick("MSFT", 5, 400.0, 3.0));
    app.publish_ticks(&ticks).await;
    app.handle.wait_until_drained().await;

    let (status, body) = app
        .graphql(
            r#"query($s: String!) {
                symbols
                quote(symbol: $s) { symbol price bid ask }
                candles(symbol: $s, interval: 60) { start open high low close volume trades }
                insights(symbol: $s, kinds: [INDICATORS], last: 5) { id kind symbol indicators }
            }"#,
            json!({"s": "AAPL"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["symbols"], json!(["AAPL", "MSFT"]));
    approx(&body["data"]["quote"]["price"], 101.79);
    let candles = body["data"]["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 3, "{candles:?}");
    approx(&candles[0]["open"], 100.0);
    approx(&candles[0]["close"], 100.59);
    approx(&candles[0]["high"], 100.59);
    approx(&candles[0]["volume"], 600.0);
    assert_eq!(candles[0]["trades"], json!(60));
    approx(&candles[2]["close"], 101.79);
    let insights = body["data"]["insights"].as_array().unwrap();
    // One INDICATORS insight per closed candle, newest first.
    assert_eq!(insights.len(), 2, "{insights:?}");
    assert!(
        insights
            .iter()
            .all(|i| i["kind"] == "INDICATORS" && i["symbol"] == "AAPL")
    );
    approx(&insights[0]["indicators"]["close"], 101.19);
}

#[tokio::test]
async fn a_client_back_from_away_reads_quotes_and_the_insights_it_missed() {
    let app = spawn_app().await;
    let mut ticks = Vec::new();
    for second in 0..240 {
        ticks.push(tick("AAPL", second, 100.0 + second as f64 * 0.01, 10.0));
    }
    ticks.push(tick("MSFT", 5, 400.0, 3.0));
    app.publish_ticks(&ticks).await;
    app.handle.wait_until_drained().await;

    let (_, body) = app
        .graphql(
            r#"{ quotes(symbols: ["msft", "NOPE", "AAPL", "MSFT"]) { symbol price } }"#,
            json!({}),
            None,
        )
        .await;
    // In the order asked, each once, a symbol with no trade left out.
    let quotes = body["data"]["quotes"].as_array().expect("quotes");
    let symbols: Vec<&str> = quotes
        .iter()
        .map(|q| q["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["MSFT", "AAPL"], "{body}");
    approx(&quotes[0]["price"], 400.0);

    // Three closed AAPL candles, each with its INDICATORS insight (at the candle's close).
    let since_query = r#"query($since: DateTime!, $symbols: [String!]) {
        insightsSince(since: $since, symbols: $symbols, kinds: [INDICATORS]) { id ts symbol }
    }"#;
    let since = crate::helpers::market_time(120).to_rfc3339();
    let (_, body) = app
        .graphql(
            since_query,
            json!({"since": since, "symbols": ["AAPL"]}),
            None,
        )
        .await;
    let missed = body["data"]["insightsSince"].as_array().expect("insights");
    let times: Vec<&str> = missed.iter().map(|i| i["ts"].as_str().unwrap()).collect();
    assert_eq!(
        missed.len(),
        2,
        "at or after the second close, oldest first: {times:?}"
    );
    assert!(times[0] < times[1]);
    let (_, body) = app
        .graphql(
            since_query,
            json!({"since": since, "symbols": ["MSFT"]}),
            None,
        )
        .await;
    assert_eq!(body["data"]["insightsSince"], json!([]));
    let (_, body) = app
        .graphql(since_query, json!({"since": "yesterday"}), None)
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test]
async fn bad_arguments_are_user_errors_not_crashes() {
    let app = spawn_app().await;
    let (status, body) = app
        .graphql(
            r#"{ candles(symbol: "", limit: -1) { close } }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let (status, body) = app
        .graphql(r#"{ quote(symbol: "NOPE") { price } }"#, json!({}), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["quote"], json!(null), "{body}");
}

#[tokio::test]
async fn get_serves_queries_but_not_mutations() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ symbols }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"data": {"symbols": []}})
    );

    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", r#"mutation { addToWatchlist(symbol: "AAPL") }"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn malformed_requests_get_clear_4xx() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    let not_json = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{body}"
    );

    let wrong_type = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);

    let unacceptable = app
        .http
        .post(&url)
        .header("accept", "text/html")
        .json(&json!({"query": "{ symbols }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unacceptable.status(), 406);

    // A parse error under the GraphQL response media type is a 400 with no data entry.
    let parse_error = app
        .http
        .post(&url)
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ symbols "}))
        .send()
        .await
        .unwrap();
    assert_eq!(parse_error.status(), 400);
    let body: serde_json::Value = parse_error.json().await.unwrap();
    assert!(
        body.get("data").is_none() && body["errors"].is_array(),
        "{body}"
    );
}

#[tokio::test]
async fn complexity_limits_reject_abusive_queries() {
    let app = spawn_app().await;
    // Each list costs its limit times its fields: three full candle lists are too much.
    let greedy = r#"{
        a: candles(symbol: "AAPL", limit: 1000) { open high low close volume }
        b: candles(symbol: "MSFT", limit: 1000) { open high low close volume }
        c: candles(symbol: "NVDA", limit: 1000) { open high low close volume }
    }"#;
    let (_, body) = app.graphql(greedy, json!({}), None).await;
    assert_eq!(
        body["errors"][0]["message"], "Query is too complex.",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
    assert!(body.get("data").is_none());
    // One of them is fine.
    let (_, body) = app
        .graphql(
            r#"{ candles(symbol: "AAPL", limit: 1000) { open high low close volume } }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(body, json!({"data": {"candles": []}}));
}

#[tokio::test]
async fn introspection_is_on() {
    let app = spawn_app().await;
    let (_, body) = app
        .graphql(
            "{ __schema { subscriptionType { fields { name } } } }",
            json!({}),
            None,
        )
        .await;
    let names: Vec<_> = body["data"]["__schema"]["subscriptionType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "ticks",
            "candles",
            "insights",
            "watchlistInsights",
            "recommendations",
            "experimentResults",
            "supportQueue",
            "chat",
            "ticketUpdates"
        ]
    );
}

#[tokio::test]
async fn the_watchlist_needs_a_token_and_is_persisted_per_user() {
    let app = spawn_app().await;
    let add = r#"mutation($s: String!) { addToWatchlist(symbol: $s) }"#;

    let (status, body) = app.graphql(add, json!({"s": "AAPL"}), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );

    let (status, body) = app
        .graphql(add, json!({"s": "AAPL"}), Some("not-a-token"))
        .await;
    assert_eq!(status, 401, "{body}");

    let alice = app.token("alice", None);
    let bob = app.token("bob", None);
    app.graphql(add, json!({"s": "AAPL"}), Some(&alice)).await;
    let (_, body) = app.graphql(add, json!({"s": "msft"}), Some(&alice)).await;
    assert_eq!(
        body["data"]["addToWatchlist"],
        json!(["AAPL", "MSFT"]),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            r#"mutation { removeFromWatchlist(symbol: "AAPL") }"#,
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(body["data"]["removeFromWatchlist"], json!(["MSFT"]));

    let (_, body) = app
        .graphql("{ me watchlist }", json!({}), Some(&alice))
        .await;
    assert_eq!(body["data"], json!({"me": "alice", "watchlist": ["MSFT"]}));
    let (_, body) = app.graphql("{ watchlist }", json!({}), Some(&bob)).await;
    assert_eq!(body["data"]["watchlist"], json!([]));
}

#[tokio::test]
async fn tokens_from_another_key_are_refused() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let foreign = other.token("mallory", None);
    let (status, _) = app.graphql("{ me }", json!({}), Some(&foreign)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], true);
    assert_eq!(body["log"], true);

    app.graphql("{ symbols }", json!({}), None).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "finpulse_http_request_duration_seconds_bucket",
        "finpulse_ws_connections",
        "finpulse_ws_subscriptions",
        "finpulse_processor_lag_events",
    ] {
        assert!(metrics.contains(family), "{family} missing from /metrics");
    }

    // A processed batch is timed as a whole and by its parts.
    app.publish_ticks(&[tick("AAPL", 1, 100.0, 1.0)]).await;
    app.handle.wait_until_drained().await;
    for stage in ["store", "publish"] {
        let sample =
            format!("finpulse_processor_stage_duration_seconds_count{{stage=\"{stage}\"}}");
        assert!(app.metric(&sample).await >= 1.0, "{sample}");
    }
    assert!(
        app.metric("finpulse_processor_batch_duration_seconds_count")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_configured_jwks() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let app =
        crate::helpers::spawn_app_with(|c| c.auth.jwks_path = Some(fixtures.join("jwks.json")))
            .await;
    let pem = std::fs::read(fixtures.join("rs256-test-key.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sign = |issuer: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-1".into());
        let claims = json!({"sub": "oidc-user", "iss": issuer, "aud": "finpulse", "iat": now, "exp": now + 600});
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };

    let (status, body) = app
        .graphql("{ me }", json!({}), Some(&sign("finpulse")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"], "oidc-user");
    // Wrong issuer, or an HS256 token, are refused.
    let (status, _) = app
        .graphql("{ me }", json!({}), Some(&sign("someone-else")))
        .await;
    assert_eq!(status, 401);
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "iss": "finpulse", "aud": "finpulse", "exp": now + 600}),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let (status, _) = app.graphql("{ me }", json!({}), Some(&hs256)).await;
    assert_eq!(status, 401);

    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(Some(&sign("finpulse"))).await;
    ws.subscribe("me", "{ me }", json!({})).await;
    assert_eq!(ws.recv().await["payload"]["data"]["me"], "oidc-user");
}

#[tokio::test]
async fn the_platform_runs_on_postgresql() {
    let database = finpulse_store::testing::FreshPostgres::create().await;
    let app = crate::helpers::spawn_app_with(|c| c.database_url = Some(database.url.clone())).await;
    let ticks: Vec<_> = (0..130)
        .map(|s| tick("NVDA", s, 120.0 + s as f64 * 0.5, 2.0))
        .collect();
    app.publish_ticks(&ticks).await;
    app.handle.wait_until_drained().await;
    let token = app.token("pat", None);
    app.graphql(
        r#"mutation { addToWatchlist(symbol: "NVDA") }"#,
        json!({}),
        Some(&token),
    )
    .await;
    let (status, body) = app
        .graphql(
            r#"{ quote(symbol: "NVDA") { price } candles(symbol: "NVDA") { close trades }
                 insights(symbol: "NVDA", kinds: [INDICATORS]) { kind } watchlist }"#,
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    approx(&body["data"]["quote"]["price"], 184.5);
    assert_eq!(body["data"]["candles"].as_array().unwrap().len(), 3);
    assert_eq!(body["data"]["insights"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["watchlist"], json!(["NVDA"]));
}

#[tokio::test]
async fn fields_check_roles_and_scopes_on_every_transport() {
    use finpulse_gateway::auth::Grant;
    use finpulse_graph::Role;
    let app = spawn_app().await;
    let auth = app.handle.auth();
    let limited = auth
        .mint_with(
            "carol",
            None,
            &Grant {
                roles: vec![],
                scopes: vec!["watchlist:read".into()],
            },
        )
        .unwrap();
    let agent = auth
        .mint_with(
            "dave",
            None,
            &Grant {
                roles: vec![Role::Agent],
                scopes: vec![],
            },
        )
        .unwrap();
    let add = r#"mutation { addToWatchlist(symbol: "AAPL") }"#;
    // Reading is in carol's scopes, writing is not.
    let (_, body) = app
        .graphql("{ watchlist }", json!({}), Some(&limited))
        .await;
    assert_eq!(body["data"]["watchlist"], json!([]), "{body}");
    let (_, body) = app.graphql(add, json!({}), Some(&limited)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    // An agent has no watchlist of their own.
    let (_, body) = app.graphql(add, json!({}), Some(&agent)).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let (_, body) = app.graphql(add, json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // The same guard over a socket, the token given in `connection_init`.
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(Some(&agent)).await;
    ws.subscribe("w", "subscription { watchlistInsights { id } }", json!({}))
        .await;
    let message = ws.recv().await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{message}"
    );
}
