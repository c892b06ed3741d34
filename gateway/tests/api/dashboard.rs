//! The dashboard's files at `/app`, `/` sending browsers to it, and the development tokens of
//! its user picker (the embedded default only).

use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_is_served_at_app_with_its_screens_and_assets() {
    let app = spawn_app().await;
    let client = no_redirects();
    let root = client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(
        root.headers()["location"],
        "/app/",
        "the dashboard is not built in: run scripts/setup-web.sh, then rebuild"
    );

    let index = client
        .get(format!("{}/app/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");
    // A screen's own address (a reload, a shared link) gets the app too.
    let deep = client
        .get(format!("{}/app/markets", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.text().await.unwrap(), html);

    // Every script and style the page names is served, cached for good (names are hashed).
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/app/assets/"))
        .collect();
    assert!(assets.len() >= 2, "{html}");
    for asset in assets {
        let response = client
            .get(format!("{}{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            kind.starts_with("text/javascript") || kind.starts_with("text/css"),
            "{asset}: {kind}"
        );
    }
    let missing = client
        .get(format!("{}/app/assets/nope.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn mint(app: &crate::helpers::TestApp, body: Value) -> (u16, Value) {
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

    let (status, issued) = mint(
        &app,
        json!({"user": "root", "roles": ["admin", "agent"], "ttlSecs": 60}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(issued["roles"], json!(["admin", "agent"]));
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
    let app = spawn_app_with(|c| c.auth.dev_tokens = false).await;
    let (status, _) = mint(&app, json!({"user": "alice"})).await;
    assert_eq!(status, 404);
}
