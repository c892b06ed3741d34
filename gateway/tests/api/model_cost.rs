//! Model work costs by its input, within a per-request and a per-caller budget, and a client
//! that asks for much, or leaves, cannot hold another client's work behind its own.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, models_without_recommender, spawn_app_with};

/// `count` distinct sentences.
fn text_of(count: usize) -> String {
    (0..count)
        .map(|i| format!("Sentence number {i} says the market moved on day {i}. "))
        .collect()
}

const MODEL_REQUESTS: &str = r#"finpulse_inference_requests_total{model="minilm-l6-v2"}"#;

#[tokio::test]
async fn summaries_cost_by_their_sentences_within_one_request() {
    let app = spawn_app_with(models_without_recommender).await;
    // Two of the longest texts in one request are too much model work, whatever the aliases.
    let (_, body) = app
        .graphql(
            "query($t: String!) { a: summarize(text: $t) b: summarize(text: $t) }",
            json!({"t": text_of(500)}),
            None,
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{body}"
    );
    assert_eq!(
        app.metric(MODEL_REQUESTS).await,
        0.0,
        "no model work was done"
    );
    // Twenty aliases of a short text are cheap and run.
    let aliases: String = (0..20)
        .map(|i| format!("s{i}: summarize(text: $t, sentences: 2) "))
        .collect();
    let (_, body) = app
        .graphql(
            &format!("query($t: String!) {{ {aliases} }}"),
            json!({"t": text_of(4)}),
            None,
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn each_caller_has_a_model_budget_over_time() {
    let app = spawn_app_with(|c| {
        models_without_recommender(c);
        c.limits.model_units_per_minute = 1;
        c.limits.model_unit_burst = 15;
    })
    .await;
    let query = "query($t: String!) { summarize(text: $t, sentences: 2) }";
    let (_, body) = app.graphql(query, json!({"t": text_of(10)}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body) = app.graphql(query, json!({"t": text_of(10)}), None).await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{body}");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() >= 1);
    // Texts the model never sees (no longer than the summary) cost nothing.
    let (_, body) = app.graphql(query, json!({"t": text_of(2)}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    // Another caller has a budget of its own.
    let bob = app.token("bob", None);
    let (_, body) = app
        .graphql(query, json!({"t": text_of(10)}), Some(&bob))
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn work_of_a_client_that_left_is_dropped_and_others_are_served() {
    let app = spawn_app_with(|c| {
        models_without_recommender(c);
        // The budget is not what this is about.
        c.limits.model_unit_burst = 100_000;
    })
    .await;
    let greedy = text_of(400);
    let mut abandoned = Vec::new();
    for _ in 0..4 {
        let request = app
            .http
            .post(format!("{}/graphql", app.address))
            .timeout(Duration::from_millis(300))
            .json(&json!({"query": "query($t: String!) { summarize(text: $t) }", "variables": {"t": greedy}}));
        abandoned.push(tokio::spawn(request.send()));
    }
    for request in abandoned {
        assert!(request.await.unwrap().is_err(), "the greedy client gave up");
    }
    eventually("the abandoned calls are dropped", || async {
        app.metric(r#"finpulse_inference_abandoned_total{model="minilm-l6-v2"}"#)
            .await
            >= 1.0
    })
    .await;
    let bob = app.token("bob", None);
    let (_, body) = app
        .graphql(
            "query($t: String!) { summarize(text: $t, sentences: 2) }",
            json!({"t": text_of(4)}),
            Some(&bob),
        )
        .await;
    assert_eq!(
        body["data"]["summarize"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
}
