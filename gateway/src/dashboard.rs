//! The web dashboard at `/app`, served from files embedded at build time (see `build.rs`), and
//! `/`, which sends a browser to it (or to GraphiQL when the dashboard is not built in); the
//! support-chat widget at `/widget.js` and its demo host page at `/demo`.
//!
//! The dashboard routes its screens in the browser (`/app/markets`, …): any path below `/app/`
//! that is not a built file gets `index.html`. Hashed asset names never change their content,
//! so they are cached for a year; `index.html` is always revalidated.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

include!(concat!(env!("OUT_DIR"), "/app_assets.rs"));

const MISSING: &str = "<!doctype html><html lang=\"en\"><title>finpulse dashboard</title>\
<body><main><h1>The dashboard is not built in</h1>\
<p>Run <code>scripts/setup-web.sh</code> (or <code>make run</code>), then rebuild. \
GraphiQL is at <a href=\"/graphiql\">/graphiql</a>.</p></main></body></html>";

/// True when the dashboard's files are built into this binary.
pub fn is_built() -> bool {
    APP_ASSETS.iter().any(|(path, _, _)| *path == "index.html")
}

/// Routes of the dashboard and of `/`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(index))
        .route("/app/{*path}", get(file))
        // The support-chat widget and a bank's page that embeds it (see web-demo/src/widget).
        .route("/widget.js", get(|| async { named("widget.js") }))
        .route("/demo", get(|| async { named("demo.html") }))
}

/// A built file by name, always revalidated (its name carries no hash), or 404.
fn named(name: &str) -> Response {
    match APP_ASSETS.iter().find(|(path, _, _)| *path == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("{name} is not built in: run scripts/setup-web.sh (or make run), then rebuild"),
        )
            .into_response(),
    }
}

async fn root() -> Redirect {
    if is_built() {
        Redirect::temporary("/app/")
    } else {
        Redirect::temporary("/graphiql")
    }
}

async fn index() -> Response {
    match APP_ASSETS.iter().find(|(path, _, _)| *path == "index.html") {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, Html(MISSING)).into_response(),
    }
}

async fn file(Path(path): Path<String>) -> Response {
    match APP_ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((name, content_type, bytes)) => {
            let cache = if name.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, *content_type),
                    (header::CACHE_CONTROL, cache),
                ],
                *bytes,
            )
                .into_response()
        }
        // A missing asset is a 404; any other path is a screen of the app.
        None if path.starts_with("assets/") => {
            (StatusCode::NOT_FOUND, "no such asset").into_response()
        }
        None => index().await,
    }
}
