//! The support desk domain: a bank's customers ask, the desk answers from its FAQ.
//!
//! - [`faq`]: the knowledge base as files (JSON Lines, CSV), checks, and the shipped
//!   retail-banking and brokerage FAQ in English, German, French and Spanish.
//! - [`retrieval`]: hybrid retrieval over it: BM25 with each language's stemmer (`tantivy`),
//!   dense sentence embeddings from the inference crate, and a fusion of both calibrated on
//!   the knowledge base itself.
//! - [`eval`]: `finpulse eval faq`, lexical, dense and fused side by side on labelled queries.
//!
//! The entries themselves are `finpulse_core::support` types, shared with the store and the
//! schema. Nothing here does network IO.

pub mod error;
pub mod eval;
pub mod faq;
pub mod retrieval;

pub use error::SupportError;
