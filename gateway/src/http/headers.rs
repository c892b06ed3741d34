//! Response headers that harden what a browser does with our pages and answers.
//!
//! Every response says `X-Content-Type-Options: nosniff` (a JSON answer is never run as a
//! script) and `Referrer-Policy: no-referrer` (a page's address, which may hold a conversation
//! id, is not sent to other sites). HTML pages (the dashboard, GraphiQL, the widget's demo page)
//! get a Content-Security-Policy that allows scripts, styles and connections from this server
//! only, with no `unsafe-inline` and no `unsafe-eval`, and may not be framed by any site
//! (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for browsers that predate it): the
//! chat widget is embedded as a script, never as a frame, so no host page needs to frame us.
//! Every other answer gets `default-src 'none'`. The widget's script may be loaded by any site
//! (`Cross-Origin-Resource-Policy: cross-origin`).

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every HTML page we serve. `'self'` covers `ws:`/`wss:` to this host in
/// CSP Level 3 browsers, which is where the dashboard's socket goes; `data:` images are the
/// favicon placeholder and the charts' canvases' exports.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of everything that is not a page: nothing may load from it as a document.
pub const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the hardening headers to every response, and `hsts` (`Strict-Transport-Security`)
/// when TLS is on.
pub async fn harden(
    State(hsts): State<Option<HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    let is_widget = request.uri().path() == "/widget.js";
    let mut response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let policy = if is_page { PAGE_POLICY } else { OTHER_POLICY };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    if is_page {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    if is_widget {
        headers.insert(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        );
    }
    response
}
