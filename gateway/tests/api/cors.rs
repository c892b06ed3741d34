//! The chat widget's files (`/widget.js`, the demo page at `/demo`) and cross-origin calls from
//! the pages that embed it (`[cors] allowed_origins`).

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn the_widget_script_and_its_demo_page_are_served() {
    let app = spawn_app().await;
    let script = app
        .http
        .get(format!("{}/widget.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.status(),
        200,
        "the widget is not built in: run scripts/setup-web.sh, then rebuild"
    );
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.headers()["cache-control"], "no-cache");
    let source = script.text().await.unwrap();
    // One self-contained script that defines the page's handle on it.
    assert!(
        source.starts_with("var FinpulseWidget="),
        "{}",
        &source[..80]
    );
    assert!(source.contains("attachShadow"));

    let page = app
        .http
        .get(format!("{}/demo", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<script src=\"/app/demo.js\">"), "{html}");
    let script = app
        .http
        .get(format!("{}/app/demo.js", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("tag.src = '/widget.js'"), "{script}");
    assert!(
        !html.contains("id=\"app\""),
        "the demo page is not the dashboard"
    );
}

/// A browser's preflight for a GraphQL POST from `origin`.
async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn listed_origins_may_call_the_api_and_others_may_not() {
    let app = spawn_app_with(|config| {
        config.cors.allowed_origins = vec!["https://www.bank.example".into()];
    })
    .await;
    let allowed = preflight(&app, "https://www.bank.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://www.bank.example"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(
        !headers.contains_key("access-control-allow-credentials"),
        "tokens are bearer tokens: no cookies"
    );

    // The call itself carries the header too.
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://www.bank.example")
        .json(&json!({ "query": "{ symbols }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://www.bank.example"
    );

    // Another site gets no permission, so its browser refuses the call.
    let other = preflight(&app, "https://evil.example").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn by_default_no_other_origin_is_allowed() {
    let app = spawn_app().await;
    let response = preflight(&app, "https://www.bank.example").await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
