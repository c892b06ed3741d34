//! The two WebSocket sub-protocols, as data.
//!
//! - `graphql-transport-ws` (the `graphql-ws` library, current Apollo and urql clients):
//!   `connection_init`/`connection_ack`, `ping`/`pong`, `subscribe`, `next`, `error`,
//!   `complete`, with close codes 4400, 4401, 4403, 4408, 4409 and 4429.
//! - `graphql-ws` (the legacy `subscriptions-transport-ws` library of old Apollo clients):
//!   `connection_init`, `start`, `stop`, `connection_terminate` in; `connection_ack`,
//!   `connection_error`, `ka`, `data`, `error`, `complete` out.

use serde::Deserialize;
use serde_json::{Value, json};

/// Which sub-protocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    LegacyWs,
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` token.
    pub fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::LegacyWs => "graphql-ws",
        }
    }
}

/// A GraphQL request inside `subscribe` / `start`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationPayload {
    /// The document.
    pub query: String,
    /// The operation to run when the document has several.
    #[serde(default)]
    pub operation_name: Option<String>,
    /// Variables.
    #[serde(default)]
    pub variables: Option<serde_json::Map<String, Value>>,
    /// Extensions (accepted, unused).
    #[serde(default)]
    pub extensions: Option<serde_json::Map<String, Value>>,
}

/// A message from the client, in either protocol.
#[derive(Debug, Clone)]
pub enum ClientMessage {
    /// `connection_init` with its optional payload.
    ConnectionInit(Option<serde_json::Map<String, Value>>),
    /// `ping` (transport-ws).
    Ping(Option<Value>),
    /// `pong` (transport-ws).
    Pong,
    /// `subscribe` (transport-ws) or `start` (legacy).
    Subscribe {
        /// Operation id chosen by the client.
        id: String,
        /// The request.
        payload: OperationPayload,
    },
    /// `complete` (transport-ws) or `stop` (legacy): the client is done with an operation.
    Complete {
        /// Operation id.
        id: String,
    },
    /// `connection_terminate` (legacy).
    Terminate,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum TransportIn {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Map<String, Value>>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: OperationPayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LegacyIn {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Map<String, Value>>,
    },
    Start {
        id: String,
        payload: OperationPayload,
    },
    Stop {
        id: String,
    },
    ConnectionTerminate,
}

/// Parses one text frame; the error is the close reason for 4400.
pub fn parse(protocol: Protocol, text: &str) -> Result<ClientMessage, String> {
    let message = match protocol {
        Protocol::TransportWs => match serde_json::from_str::<TransportIn>(text) {
            Ok(TransportIn::ConnectionInit { payload }) => ClientMessage::ConnectionInit(payload),
            Ok(TransportIn::Ping { payload }) => ClientMessage::Ping(payload),
            Ok(TransportIn::Pong { .. }) => ClientMessage::Pong,
            Ok(TransportIn::Subscribe { id, payload }) => ClientMessage::Subscribe { id, payload },
            Ok(TransportIn::Complete { id }) => ClientMessage::Complete { id },
            Err(e) => return Err(format!("Invalid message received: {e}")),
        },
        Protocol::LegacyWs => match serde_json::from_str::<LegacyIn>(text) {
            Ok(LegacyIn::ConnectionInit { payload }) => ClientMessage::ConnectionInit(payload),
            Ok(LegacyIn::Start { id, payload }) => ClientMessage::Subscribe { id, payload },
            Ok(LegacyIn::Stop { id }) => ClientMessage::Complete { id },
            Ok(LegacyIn::ConnectionTerminate) => ClientMessage::Terminate,
            Err(e) => return Err(format!("Invalid message received: {e}")),
        },
    };
    match &message {
        ClientMessage::Subscribe { id, .. } | ClientMessage::Complete { id }
            if id.is_empty() || id.len() > 128 =>
        {
            Err("Invalid message received: id must be 1 to 128 characters".into())
        }
        _ => Ok(message),
    }
}

/// `connection_ack`.
pub fn ack() -> String {
    json!({"type": "connection_ack"}).to_string()
}

/// `pong` answering a `ping`.
pub fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({"type": "pong", "payload": payload}).to_string(),
        None => json!({"type": "pong"}).to_string(),
    }
}

/// Legacy keep-alive.
pub fn keep_alive() -> String {
    json!({"type": "ka"}).to_string()
}

/// One result of an operation (`next` / legacy `data`).
pub fn next(protocol: Protocol, id: &str, response: &Value) -> String {
    let kind = match protocol {
        Protocol::TransportWs => "next",
        Protocol::LegacyWs => "data",
    };
    json!({"id": id, "type": kind, "payload": response}).to_string()
}

/// [`next`] with a payload that is already JSON text (a shared result serialised once).
pub fn next_raw(protocol: Protocol, id: &str, payload: &str) -> String {
    let kind = match protocol {
        Protocol::TransportWs => "next",
        Protocol::LegacyWs => "data",
    };
    let id = Value::String(id.to_owned());
    format!(r#"{{"id":{id},"type":"{kind}","payload":{payload}}}"#)
}

/// The operation failed before producing results. transport-ws carries the error list itself,
/// the legacy protocol one error object.
pub fn error(protocol: Protocol, id: &str, errors: &Value) -> String {
    let payload = match protocol {
        Protocol::TransportWs => errors.clone(),
        Protocol::LegacyWs => errors
            .get(0)
            .cloned()
            .unwrap_or_else(|| json!({"message": "error"})),
    };
    json!({"id": id, "type": "error", "payload": payload}).to_string()
}

/// The operation is over.
pub fn complete(id: &str) -> String {
    json!({"id": id, "type": "complete"}).to_string()
}

/// Legacy refusal of `connection_init`.
pub fn connection_error(message: &str) -> String {
    json!({"type": "connection_error", "payload": {"message": message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_value_frames_are_the_same_json() {
        let payload = json!({"data": {"ticks": {"symbol": "A\"B", "price": 1.5}}});
        for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
            let raw: Value =
                serde_json::from_str(&next_raw(protocol, "x\"1", &payload.to_string())).unwrap();
            let built: Value = serde_json::from_str(&next(protocol, "x\"1", &payload)).unwrap();
            assert_eq!(raw, built);
        }
    }

    #[test]
    fn parses_transport_ws_messages() {
        let m = parse(
            Protocol::TransportWs,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ me }"}}"#,
        )
        .unwrap();
        assert!(matches!(m, ClientMessage::Subscribe { id, .. } if id == "1"));
        assert!(matches!(
            parse(Protocol::TransportWs, r#"{"type":"connection_init"}"#).unwrap(),
            ClientMessage::ConnectionInit(None)
        ));
    }

    #[test]
    fn refuses_what_the_protocol_does_not_have() {
        for bad in [
            "not json",
            r#"{"type":"start","id":"1","payload":{"query":"{ me }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ me }"}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ me }"},"extra":1}"#,
            r#"{"id":"1"}"#,
        ] {
            assert!(parse(Protocol::TransportWs, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_legacy_messages() {
        let m = parse(
            Protocol::LegacyWs,
            r#"{"type":"start","id":"a","payload":{"query":"{ me }"}}"#,
        )
        .unwrap();
        assert!(matches!(m, ClientMessage::Subscribe { .. }));
        assert!(matches!(
            parse(Protocol::LegacyWs, r#"{"type":"stop","id":"a"}"#).unwrap(),
            ClientMessage::Complete { .. }
        ));
    }
}
