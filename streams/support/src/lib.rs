//! The support desk domain: a bank's customers ask, the desk answers from its FAQ and their
//! account, and hands over to a person when it should.
//!
//! - [`faq`]: the knowledge base as files (JSON Lines, CSV), checks, and the shipped
//!   retail-banking and brokerage FAQ in English, German, French and Spanish; [`knowledge`]:
//!   edited live by operators, every answering replica re-indexing.
//! - [`retrieval`]: hybrid retrieval over it: BM25 with each language's stemmer (`tantivy`),
//!   dense sentence embeddings from the inference crate, and a fusion of both calibrated on
//!   the knowledge base itself.
//! - [`responder`]: one customer message to one grounded reply (answer, ask back, hand off),
//!   with thresholds calibrated on the knowledge base; [`templates`]: its own sentences per
//!   language (Project Fluent).
//! - [`events`]: `support.messages` on the log and the chat channels on the fan-out;
//!   [`desk`]: who may read what, sending, and the live re-index; [`processor`]: keeps,
//!   answers and pushes every message.
//! - [`tickets`]: a conversation that needs a person becomes a ticket: categorized and
//!   scored for sentiment by classifier heads of the inference crate, prioritized, and
//!   escalated by an SLA watcher.
//! - [`eval`]: `finpulse eval faq`, lexical, dense and fused side by side on labelled queries.
//! - [`domain`]: the desk as the gateway runs it: its `[support]` settings, how it opens, and
//!   what it starts (seeding, the FAQ index then triage, the SLA watcher, the processor).
//!
//! The entries, conversations and messages themselves are `finpulse_core::support` types,
//! shared with the store and the schema.

pub mod desk;
pub mod domain;
pub mod error;
pub mod eval;
pub mod events;
pub mod faq;
pub mod knowledge;
pub mod processor;
pub mod responder;
pub mod retrieval;
pub mod templates;
pub mod tickets;

pub use desk::{SupportDesk, SupportMetrics, Viewer};
pub use domain::SupportSettings;
pub use error::SupportError;
