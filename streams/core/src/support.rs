//! The support desk's vocabulary: FAQ entries (the knowledge base the automated responder
//! answers from). Conversations, messages and tickets join them here as the desk grows.
//!
//! `finpulse-support` indexes and retrieves entries; the store will keep them and the schema
//! serves them. Serde names are the stored and file names (`finpulse import faq`).

use serde::{Deserialize, Serialize};

/// One FAQ entry in one language: the ways customers ask it and the answer the desk gives.
///
/// An entry written in several languages is several values with the same `id`; retrieval
/// finds the entry (the id), and the responder answers from the version in the customer's
/// language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    /// Stable id shared by the entry's languages (`card-declined`).
    pub id: String,
    /// ISO 639-1 code of the questions and answer (`en`, `de`).
    pub language: String,
    /// The intent the entry answers (`card_payment_failed`); several entries may share one.
    #[serde(default)]
    pub intent: String,
    /// Free labels (`cards`, `payments`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Question variants: at least one, each a way a customer might ask.
    pub questions: Vec<String>,
    /// The answer, with `{placeholders}` the responder fills from the customer's account.
    pub answer: String,
}
