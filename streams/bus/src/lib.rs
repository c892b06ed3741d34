//! The bus: how events and results move, knowing nothing of what they mean.
//!
//! ```text
//! producers ──► EventLog (topics, partitions by key, consumer groups with offsets)
//!                   │  every record an Envelope {type, version, key, ts, payload}
//!                   ▼
//!               runtime::Runtime ── one consumer loop per processor: decode, park what
//!                   │               cannot be decoded (dead-letter topic), handle, commit
//!                   ▼
//!               FanOut (named channels) ──► every gateway replica's subscribers
//! ```
//!
//! Every backend sits behind a small trait ([`EventLog`], [`FanOut`]) with an in-process
//! implementation that is the embedded default; the distributed ones (Kafka, Redis) satisfy the
//! same contracts (the conformance suites in `tests/`). The domains (`streams/market`, and the
//! recommender, support, news and portfolio crates to come) own their events and processors
//! and register them with the [`runtime::Registry`]. [`reply`] is request/reply over the log
//! and the fan-out (what inference workers answer gateways with).

pub mod envelope;
pub mod error;
pub mod fanout;
pub mod log;
pub mod metrics;
pub mod reply;
pub mod runtime;

pub use envelope::{Envelope, EnvelopeError, EventPayload};
pub use error::StreamError;
pub use fanout::{FanOut, LocalFanOut, RedisFanOut, RedisFanOutConfig};
pub use log::{Consumer, EventLog, MemoryLog, Record};
pub use metrics::StreamMetrics;
