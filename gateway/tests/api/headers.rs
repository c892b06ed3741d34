//! Hardening headers as a browser reads them: a strict Content-Security-Policy on every page
//! (no inline script or style, no framing), `nosniff` and `no-referrer` on every answer. That
//! the pages run under that policy with no violation is the browser tests' part.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_page_has_a_strict_content_security_policy_and_cannot_be_framed() {
    let app = spawn_app().await;
    for path in ["/app/", "/app/markets", "/graphiql", "/demo"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
            "{path}: {policy}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        // What the policy forbids is not there to be forbidden: no inline script or style.
        let page = response.text().await.unwrap();
        let inline_script = page
            .match_indices("<script")
            .any(|(at, _)| !page[at..].split('>').next().unwrap().contains("src="));
        assert!(!inline_script, "{path} has an inline script");
        assert!(!page.contains("<style"), "{path} has an inline style");
        assert!(!page.contains("style=\""), "{path} has a style attribute");
    }
}

#[tokio::test]
async fn api_answers_are_never_sniffed_or_rendered_and_the_widget_loads_anywhere() {
    let app = spawn_app().await;
    let (status, _) = app
        .graphql("{ symbols }", serde_json::json!({}), None)
        .await;
    assert_eq!(status, 200);
    let answer = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(&serde_json::json!({"query": "{ symbols }"}))
        .send()
        .await
        .unwrap();
    let headers = answer.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    for path in ["/healthz", "/graphiql/assets/finpulse-page.js", "/app/nope"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let widget = app
        .http
        .get(format!("{}/widget.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(widget.status(), 200);
    assert_eq!(
        widget.headers()["cross-origin-resource-policy"],
        "cross-origin"
    );
    assert!(
        widget.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}
