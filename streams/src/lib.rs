//! The moving parts between a market event and a subscriber.
//!
//! ```text
//! source (simulator | CSV replay | Kafka producer)
//!    │  Envelope{type: "market.tick"}
//!    ▼
//! EventLog  ── topic "market.ticks", partitioned by symbol, consumer groups with offsets
//!    │
//!    ▼
//! MarketProcessor  ── candles, indicators, signals  ──► Store (quotes, candles, insights)
//!    │
//!    ▼
//! FanOut  ── channels "ticks.AAPL", "candles.AAPL.60", "insights.AAPL"  ──► gateway sockets
//! ```
//!
//! Every backend sits behind a small trait ([`EventLog`], [`FanOut`]) with an in-process
//! implementation that is the embedded default; the distributed ones (Kafka, Redis) satisfy the
//! same contracts.

pub mod envelope;
pub mod error;
pub mod events;
pub mod fanout;
pub mod indicators;
pub mod inference;
pub mod insights;
pub mod log;
pub mod market;
pub mod metrics;
pub mod processor;
pub mod runtime;

pub use envelope::{Envelope, EnvelopeError};
pub use error::StreamError;
pub use fanout::{FanOut, LocalFanOut, RedisFanOut, RedisFanOutConfig};
pub use log::{Consumer, EventLog, MemoryLog, Record};
pub use metrics::StreamMetrics;
