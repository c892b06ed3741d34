//! GraphQL over HTTP at `/graphql`, following the GraphQL-over-HTTP specification.
//!
//! - `POST` with `Content-Type: application/json`, or `GET` with URL parameters (queries only:
//!   a mutation over GET is 405 with `Allow: POST`).
//! - The response media type follows `Accept`: `application/graphql-response+json` when the
//!   client accepts it, otherwise `application/json` (also when `Accept` is absent); anything
//!   else is 406.
//! - A request that is not well-formed (bad JSON, no `query`, wrongly typed parameters) is 400.
//!   A document that fails to parse or validate is 400 under `application/graphql-response+json`
//!   and 200 under `application/json`, without a `data` entry either way. Field errors are 200.
//! - `GET` with `Upgrade: websocket` is the WebSocket endpoint.

use std::collections::HashMap;

use async_graphql::ServerError;
use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use finpulse_graph::{Caller, Principal};
use serde_json::{Map, Value, json};

use super::identity::Identity;
use crate::state::AppState;
use crate::ws;

/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
}

/// A document refused before execution (a limit, a syntax error): 400 under
/// `application/graphql-response+json`, 200 under `application/json`, without `data`.
fn graphql_errors(media: MediaType, errors: Vec<ServerError>) -> Response {
    let status = match media {
        MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
        MediaType::Json => StatusCode::OK,
    };
    let body = json!({ "errors": errors });
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

fn request_error(media: MediaType, status: StatusCode, message: impl Into<String>) -> Response {
    let body =
        json!({"errors": [{"message": message.into(), "extensions": {"code": "BAD_REQUEST"}}]});
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// Splits a header list into lowercase media types with their charset parameter.
fn media_ranges(value: &str) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    value.split(',').map(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let charset = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
        (media, charset)
    })
}

fn utf8(charset: &Option<String>) -> bool {
    charset
        .as_deref()
        .is_none_or(|c| c == "utf-8" || c == "utf8")
}

fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let ranges: Vec<_> = media_ranges(accept)
        .filter(|(_, c)| utf8(c))
        .map(|(m, _)| m)
        .collect();
    if ranges.iter().any(|m| m == GRAPHQL_RESPONSE_JSON) {
        Some(MediaType::GraphqlResponse)
    } else if ranges
        .iter()
        .any(|m| m == JSON || m == "*/*" || m == "application/*")
    {
        Some(MediaType::Json)
    } else {
        None
    }
}

fn object_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("`{name}` must be an object")),
    }
}

fn from_json_body(body: &[u8]) -> Result<Params, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err("request body must be a JSON object".into());
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("missing `query`".into()),
    };
    let operation_name = match map.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    };
    let variables = object_param(map.remove("variables"), "variables")?;
    object_param(map.remove("extensions"), "extensions")?;
    Ok(Params {
        query,
        operation_name,
        variables,
    })
}

fn from_query_string(params: HashMap<String, String>) -> Result<Params, String> {
    let query = params.get("query").cloned().ok_or("missing `query`")?;
    let parse_object = |name: &str| -> Result<Option<Map<String, Value>>, String> {
        match params.get(name) {
            None => Ok(None),
            Some(text) => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|_| format!("`{name}` must be a JSON object"))?;
                object_param(Some(value), name)
            }
        }
    };
    let variables = parse_object("variables")?;
    parse_object("extensions")?;
    Ok(Params {
        query,
        operation_name: params
            .get("operationName")
            .filter(|n| !n.is_empty())
            .cloned(),
        variables,
    })
}

/// `GET`/`POST /graphql`.
pub async fn graphql(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let identity = parts
        .extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity::Anonymous);
    if parts.method == Method::GET && is_upgrade {
        let peer = crate::server::peer_ip_of(&parts.extensions);
        return match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
            Ok(upgrade) => ws::upgrade(upgrade, &parts.headers, identity, peer, app.socket.clone()),
            Err(rejection) => rejection.into_response(),
        };
    }
    let Some(media) = negotiate(&parts.headers) else {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "accept application/graphql-response+json or application/json",
        )
            .into_response();
    };
    let principal = match &identity {
        Identity::Refused(reason) => {
            let body =
                json!({"errors": [{"message": reason, "extensions": {"code": "UNAUTHENTICATED"}}]});
            let mut response = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, media.content_type());
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        other => other.principal().unwrap_or_else(Principal::anonymous),
    };
    let caller = Caller::of(&principal, crate::server::peer_ip_of(&parts.extensions));
    let params = match parts.method {
        Method::GET => {
            let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .map_err(|e| e.body_text());
            query.and_then(from_query_string)
        }
        Method::POST => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let json_body = content_type
                .and_then(|c| media_ranges(c).next())
                .is_some_and(|(m, c)| m == JSON && utf8(&c));
            if !json_body {
                return request_error(
                    media,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "content-type must be application/json (utf-8)",
                );
            }
            match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
                Ok(bytes) => from_json_body(&bytes),
                Err(_) => {
                    return request_error(
                        media,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body is too large",
                    );
                }
            }
        }
        _ => {
            let mut response = (StatusCode::METHOD_NOT_ALLOWED, "use GET or POST").into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
    };
    let params = match params {
        Ok(params) => params,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, message),
    };
    let prepared = match app
        .preparer
        .prepare(params.query, params.operation_name, params.variables)
        .await
    {
        Ok(prepared) => prepared,
        Err(error) => return graphql_errors(media, vec![error]),
    };
    match &prepared.operation {
        Some(info) if info.kind == OperationType::Mutation && parts.method == Method::GET => {
            let mut response =
                request_error(media, StatusCode::METHOD_NOT_ALLOWED, "mutations need POST");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        Some(info) if info.kind == OperationType::Subscription => {
            let status = match media {
                MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
                MediaType::Json => StatusCode::OK,
            };
            return request_error(
                media,
                status,
                "subscriptions are served over WebSocket at /graphql",
            );
        }
        _ => {}
    }
    let request = prepared.request.data(principal).data(caller);
    let response = app.schema.execute(request).await;
    let failed_before_execution = !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response)
        .unwrap_or_else(|_| json!({"errors": [{"message": "internal error"}]}));
    let status = if failed_before_execution {
        if let Value::Object(map) = &mut body {
            map.remove("data");
        }
        match media {
            MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        }
    } else {
        StatusCode::OK
    };
    let mut http = (status, body.to_string()).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn negotiates_the_response_media_type() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json"
            )),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(&accept("application/json; charset=utf-8")),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept("application/json; charset=iso-8859-1")),
            None
        );
        assert_eq!(negotiate(&accept("text/html")), None);
    }

    #[test]
    fn checks_body_parameters() {
        assert!(
            from_json_body(br#"{"query": "{ me }", "variables": null, "operationName": null}"#)
                .is_ok()
        );
        assert!(from_json_body(br#"{"query": 1}"#).is_err());
        assert!(from_json_body(br#"{"variables": {}}"#).is_err());
        assert!(from_json_body(br#"{"query": "{ me }", "variables": "{}"}"#).is_err());
        assert!(from_json_body(b"[]").is_err());
        assert!(from_json_body(b"{").is_err());
    }
}
