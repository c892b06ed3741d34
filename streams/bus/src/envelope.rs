//! The one versioned envelope every event travels in, on every log backend.
//!
//! On the wire an envelope is a JSON object:
//! `{"id": uuid, "type": "market.tick", "version": 1, "key": "AAPL", "ts": rfc3339, "payload": {...}}`.
//! Decoding is strict about the envelope itself and about known `(type, version)` pairs so that
//! a malformed event is detected once, at the consumer's door, and parked with a reason.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A decoded event with its payload still as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique id, used to make processing idempotent across redeliveries.
    pub id: Uuid,
    /// Event type, for example `market.tick`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of the payload for this type.
    pub version: u16,
    /// Partitioning key (a symbol, a user id); order holds per key.
    pub key: String,
    /// When the event was published (not when it happened; payloads carry their own time).
    pub ts: DateTime<Utc>,
    /// The type-specific body.
    pub payload: serde_json::Value,
}

/// Why bytes from the log are not a usable event.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not JSON, or not an envelope.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// An envelope of a type this consumer does not handle.
    #[error("unexpected event type `{0}`")]
    UnexpectedType(String),
    /// A known type at a version this build does not understand.
    #[error("unsupported version {version} of `{event_type}`")]
    UnsupportedVersion {
        /// The type.
        event_type: String,
        /// The version found.
        version: u16,
    },
    /// The payload does not match the schema of its type and version.
    #[error("invalid `{event_type}` payload: {reason}")]
    InvalidPayload {
        /// The type.
        event_type: String,
        /// What serde said.
        reason: String,
    },
}

/// A payload type that knows its event type and the version it is written at.
pub trait EventPayload: Serialize + DeserializeOwned {
    /// The `type` field, for example `market.tick`.
    const TYPE: &'static str;
    /// The version this build writes and reads.
    const VERSION: u16;
    /// The partitioning key of this payload.
    fn key(&self) -> &str;
    /// Checks invariants serde cannot express (finite prices, non-empty symbols).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Envelope {
    /// Wraps a payload in a fresh envelope stamped now.
    pub fn wrap<P: EventPayload>(payload: &P) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: P::TYPE.to_owned(),
            version: P::VERSION,
            key: payload.key().to_owned(),
            ts: Utc::now(),
            payload: serde_json::to_value(payload)?,
        })
    }

    /// Serialises to the wire form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses the wire form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// Extracts a typed payload, checking type, version and the payload's own invariants.
    pub fn decode<P: EventPayload>(&self) -> Result<P, EnvelopeError> {
        if self.event_type != P::TYPE {
            return Err(EnvelopeError::UnexpectedType(self.event_type.clone()));
        }
        if self.version != P::VERSION {
            return Err(EnvelopeError::UnsupportedVersion {
                event_type: self.event_type.clone(),
                version: self.version,
            });
        }
        let invalid = |reason: String| EnvelopeError::InvalidPayload {
            event_type: self.event_type.clone(),
            reason,
        };
        let payload = P::deserialize(&self.payload).map_err(|e| invalid(e.to_string()))?;
        payload.validate().map_err(invalid)?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload of the bus's own tests, shaped like a market tick, with an invariant.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tick {
        symbol: String,
        price: f64,
        size: f64,
        bid: f64,
        ask: f64,
        ts: chrono::DateTime<Utc>,
    }

    impl EventPayload for Tick {
        const TYPE: &'static str = "market.tick";
        const VERSION: u16 = 1;

        fn key(&self) -> &str {
            &self.symbol
        }

        fn validate(&self) -> Result<(), String> {
            if self.price.is_finite() && self.price > 0.0 {
                Ok(())
            } else {
                Err(format!("price must be positive, got {}", self.price))
            }
        }
    }

    fn tick() -> Tick {
        Tick {
            symbol: "AAPL".into(),
            price: 190.5,
            size: 100.0,
            bid: 190.49,
            ask: 190.51,
            ts: Utc::now(),
        }
    }

    #[test]
    fn round_trips_a_tick() {
        let envelope = Envelope::wrap(&tick()).unwrap();
        let back = Envelope::from_bytes(&envelope.to_bytes().unwrap()).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(
            back.decode::<Tick>().unwrap(),
            tick_with_ts(back.payload["ts"].clone())
        );
        assert_eq!(back.key, "AAPL");
    }

    fn tick_with_ts(ts: serde_json::Value) -> Tick {
        Tick {
            ts: serde_json::from_value(ts).unwrap(),
            ..tick()
        }
    }

    #[test]
    fn rejects_garbage_and_wrong_shapes() {
        assert!(matches!(
            Envelope::from_bytes(b"\xff\x00not json"),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::from_bytes(br#"{"id": "nope"}"#),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_unknown_versions_and_bad_payloads() {
        let mut envelope = Envelope::wrap(&tick()).unwrap();
        envelope.version = 9;
        assert_eq!(
            envelope.decode::<Tick>(),
            Err(EnvelopeError::UnsupportedVersion {
                event_type: "market.tick".into(),
                version: 9
            })
        );
        envelope.version = 1;
        envelope.payload["price"] = serde_json::json!(-3.0);
        assert!(matches!(
            envelope.decode::<Tick>(),
            Err(EnvelopeError::InvalidPayload { .. })
        ));
        envelope.payload = serde_json::json!({"symbol": "AAPL"});
        assert!(matches!(
            envelope.decode::<Tick>(),
            Err(EnvelopeError::InvalidPayload { .. })
        ));
        envelope.event_type = "user.click".into();
        assert!(matches!(
            envelope.decode::<Tick>(),
            Err(EnvelopeError::UnexpectedType(_))
        ));
    }
}
