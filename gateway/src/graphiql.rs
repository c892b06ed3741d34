//! GraphiQL at `/graphiql`, served from files embedded at build time (see `build.rs`), with
//! example operations and a token box whose value goes into HTTP headers and `connection_init`.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));

const PAGE: &str = include_str!("graphiql.html");
/// The page's own script and style, files rather than inline so its CSP needs no
/// `unsafe-inline` (see [`crate::http::headers`]).
const PAGE_SCRIPT: &str = include_str!("graphiql-page.js");
const PAGE_STYLE: &str = include_str!("graphiql-page.css");

const MISSING: &str = "<!doctype html><title>finpulse GraphiQL</title><body>\
<h1>GraphiQL files are not built in</h1><p>Run <code>scripts/setup-web.sh</code> (or <code>make run</code>), \
then rebuild. The GraphQL endpoint itself works: <code>POST /graphql</code>.</p></body>";

/// Routes of the playground.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphiql", get(page))
        .route("/graphiql/assets/{name}", get(asset))
}

async fn page() -> Html<&'static str> {
    if ASSETS.len() == 5 {
        Html(PAGE)
    } else {
        Html(MISSING)
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let own = match name.as_str() {
        "finpulse-page.js" => Some(("text/javascript; charset=utf-8", PAGE_SCRIPT)),
        "finpulse-page.css" => Some(("text/css; charset=utf-8", PAGE_STYLE)),
        _ => None,
    };
    if let Some((content_type, text)) = own {
        return (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            text,
        )
            .into_response();
    }
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
