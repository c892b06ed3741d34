//! `/healthz`, `/readyz` and `/metrics`, plus the middleware that times every request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process serves HTTP.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

/// Readiness: the store answers and the event log and fan-out accept work.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let store = app.store.health.ping().await.is_ok();
    let log = app.log.is_ready().await;
    let fanout = app.fanout.is_ready().await;
    let status = if store && log && fanout && !app.shutdown.is_cancelled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"store": store, "log": log, "fanout": fanout, "shuttingDown": app.shutdown.is_cancelled()});
    (status, axum::Json(body)).into_response()
}

/// Prometheus text exposition of every finpulse metric.
pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// Records `finpulse_http_request_duration_seconds` for every route.
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .http_duration
        .with_label_values(&[&path, &method, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
