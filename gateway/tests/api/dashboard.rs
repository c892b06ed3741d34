//! The dashboard's files at `/app` and `/` sending browsers to it.

use crate::helpers::spawn_app;

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
