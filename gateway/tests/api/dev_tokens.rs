//! Development tokens of the dashboard's user picker: served by the embedded default on a
//! loopback address only, never with `admin` unless asked for by name, never to another site's
//! page. (That the image's own environment serves none is in `tests/deploy.rs`, which runs the
//! real binary.)

use finpulse_gateway::config::DevTokens;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn mint(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/dev/token", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn offered_roles(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/dev/token", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["roles"].clone()
}

#[tokio::test]
async fn development_tokens_sign_the_picked_user_in() {
    let app = spawn_app().await;
    let (status, issued) = mint(&app, json!({"user": "alice"})).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["user"], "alice");
    assert_eq!(issued["roles"], json!(["customer"]));
    let expires =
        chrono::DateTime::parse_from_rfc3339(issued["expiresAt"].as_str().unwrap()).unwrap();
    let lifetime = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((850..=900).contains(&lifetime), "{lifetime}");
    let token = issued["token"].as_str().unwrap();
    let (_, body) = app
        .graphql(
            "mutation { addToWatchlist(symbol: \"AAPL\") }",
            json!({}),
            Some(token),
        )
        .await;
    assert_eq!(body["data"]["addToWatchlist"], json!(["AAPL"]), "{body}");
    let (_, body) = app.graphql("{ me }", json!({}), Some(token)).await;
    assert_eq!(body["data"]["me"], "alice");

    let (status, issued) = mint(&app, json!({"user": "sam", "roles": ["agent"]})).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["roles"], json!(["agent"]));
}

#[tokio::test]
async fn the_admin_role_needs_dev_tokens_set_to_admin_by_name() {
    let app = spawn_app().await;
    assert_eq!(offered_roles(&app).await, json!(["customer", "agent"]));
    let (status, refused) = mint(
        &app,
        json!({"user": "root", "roles": ["admin", "agent"], "ttlSecs": 60}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "FORBIDDEN");
    assert!(
        refused["error"].as_str().unwrap().contains("\"admin\""),
        "{refused}"
    );

    let app = spawn_app_with(|c| c.auth.dev_tokens = DevTokens::Admin).await;
    assert_eq!(
        offered_roles(&app).await,
        json!(["customer", "agent", "admin"])
    );
    let (status, issued) = mint(
        &app,
        json!({"user": "root", "roles": ["admin", "agent"], "ttlSecs": 60}),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["roles"], json!(["admin", "agent"]));
    let (_, body) = app
        .graphql(
            "{ experiments { id } }",
            json!({}),
            issued["token"].as_str(),
        )
        .await;
    assert!(
        body["errors"].is_null(),
        "an operator's token works: {body}"
    );
}

#[tokio::test]
async fn bad_token_requests_are_refused_with_a_reason() {
    let app = spawn_app().await;
    for (body, reason) in [
        (json!({"user": "alice", "roles": ["root"]}), "unknown role"),
        (json!({"user": "alice", "ttlSecs": 1}), "ttlSecs"),
        (json!({"user": "  "}), "user"),
        (json!({"user": "alice", "admin": true}), "unknown field"),
        (json!({"name": "alice"}), "user"),
    ] {
        let (status, answer) = mint(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "BAD_USER_INPUT", "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains(reason),
            "{body}: {answer}"
        );
    }
    let garbage = app
        .http
        .post(format!("{}/dev/token", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
}

#[tokio::test]
async fn development_tokens_can_be_switched_off() {
    let app = spawn_app_with(|c| c.auth.dev_tokens = DevTokens::Off).await;
    let (status, _) = mint(&app, json!({"user": "alice"})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_configured_secret_is_never_handed_out_as_development_tokens() {
    let app = spawn_app_with(|c| {
        c.auth.jwt_secret = Some(secrecy::SecretString::from("k".repeat(48)));
    })
    .await;
    let (status, _) = mint(&app, json!({"user": "alice"})).await;
    assert_eq!(status, 404);
}

/// Even with every origin allowed for the API, no other site's page gets a token: not through
/// a preflight, not by posting, not through a domain rebound to 127.0.0.1.
#[tokio::test]
async fn no_other_site_can_mint_a_development_token_even_with_cors_open_to_all() {
    let app = spawn_app_with(|c| c.cors.allowed_origins = vec!["*".into()]).await;
    let url = format!("{}/dev/token", app.address);
    let preflight_from_elsewhere = |url: String| {
        app.http
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let preflight = preflight_from_elsewhere(url.clone()).await.unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        preflight.headers()
    );
    // The API itself still answers the same preflight: CORS is on, just not for tokens.
    let api_preflight = preflight_from_elsewhere(format!("{}/graphql", app.address))
        .await
        .unwrap();
    assert_eq!(api_preflight.headers()["access-control-allow-origin"], "*");

    let from_elsewhere = app
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .json(&json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), 403);
    assert!(
        from_elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let rebound = app
        .http
        .post(&url)
        .header("host", format!("rebound.evil.example:{}", app.port))
        .header(
            "origin",
            format!("http://rebound.evil.example:{}", app.port),
        )
        .json(&json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let own_page = app
        .http
        .post(&url)
        .header("origin", &app.address)
        .json(&json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(own_page.status(), 200);
}
