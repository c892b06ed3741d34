//! The automated responder: one customer message in, one grounded reply out.
//!
//! For each message: detect its language; hand off at once when the customer asks for a
//! person ([`human`]); retrieve FAQ evidence; then decide, Rasa-style, with a confidence
//! threshold and an ambiguity margin ([`thresholds`]):
//!
//! - **answer**: the top entry is confident and clearly ahead; the reply is that entry's
//!   answer in the customer's language (English with a note when it has none), its
//!   `{placeholders}` filled from the customer's account row ([`compose`]);
//! - **clarify**: confident but the next entry is too close, or the fusion and the primary
//!   model disagree on which entry is best; the reply lists them and asks, and a numbered
//!   answer ("2") picks one on the next turn;
//! - **rephrase**: not confident; the reply asks for other words, once;
//! - **hand off**: asked for, or still not confident after a rephrase.
//!
//! The bot never says anything that is not an FAQ answer, an account fact or one of its own
//! templates; a fact it does not have reads as "an agent can check". Every reply carries its
//! [`Evidence`], which the handoff passes to the agent.

mod compose;
pub mod human;
pub mod thresholds;

use std::collections::{BTreeMap, BTreeSet};

use finpulse_core::support::{CustomerAccount, FaqEntry};
use serde::{Deserialize, Serialize};

use crate::SupportError;
use crate::retrieval::{DenseModel, FaqIndex, Ranked};
use crate::templates::{FALLBACK_LANGUAGE, Templates};
pub use thresholds::Thresholds;
use thresholds::{confidence, lead, more_confident_than_top};

/// How the responder decides; the thresholds it leaves unset are calibrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponderConfig {
    /// Entries retrieved per message (the evidence an agent sees).
    pub candidates: usize,
    /// How often an answer must be right on the held-out questions for the calibrated
    /// threshold to allow it.
    pub target_precision: f32,
    /// A fixed answer threshold instead of the calibrated one, in the confidence's units
    /// (cosine with an embedding model, BM25 without).
    pub min_confidence: Option<f32>,
    /// A fixed ambiguity margin instead of the calibrated one, in the same units.
    pub ambiguity_margin: Option<f32>,
    /// Answer thresholds per intent, over the general one (a fraud question may want more
    /// certainty than an opening-hours one).
    pub intent_thresholds: BTreeMap<String, f32>,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        Self {
            candidates: 5,
            target_precision: 0.9,
            min_confidence: None,
            ambiguity_margin: None,
            intent_thresholds: BTreeMap::new(),
        }
    }
}

/// What the responder did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Answered from an FAQ entry.
    Answer,
    /// Asked which of close entries was meant.
    Clarify,
    /// Asked for other words.
    Rephrase,
    /// Handed off because the customer asked for a person.
    HandoffRequested,
    /// Handed off because it could not answer reliably.
    HandoffUnsure,
}

impl Decision {
    /// True when the conversation goes to the agents' queue.
    pub fn hands_off(self) -> bool {
        matches!(self, Self::HandoffRequested | Self::HandoffUnsure)
    }
}

/// One entry the responder retrieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrieved {
    /// The entry's id.
    pub id: String,
    /// Its intent.
    pub intent: String,
    /// Its confidence (see [`thresholds`]).
    pub confidence: f32,
}

/// What the responder found and decided: kept with its message, handed to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it did.
    pub decision: Decision,
    /// The message's language as detected (ISO 639-1), when it could be.
    pub language: Option<String>,
    /// The language it replied in.
    pub reply_language: String,
    /// The top entry's intent.
    pub intent: Option<String>,
    /// The top entry's confidence.
    pub confidence: Option<f32>,
    /// How far the top entry led the next.
    pub lead: Option<f32>,
    /// The answer threshold that applied.
    pub threshold: f32,
    /// The ambiguity margin that applied.
    pub margin: f32,
    /// The entries retrieved, best first.
    pub entries: Vec<Retrieved>,
    /// The entry answered from.
    #[serde(default)]
    pub answered_from: Option<String>,
    /// The entries offered when asking back, in the numbered order.
    #[serde(default)]
    pub options: Vec<String>,
    /// The account facts the reply quotes (`name`, `card_status`).
    #[serde(default)]
    pub facts: Vec<String>,
}

/// The bot's reply to one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What it says.
    pub text: String,
    /// Why.
    pub evidence: Evidence,
}

/// One customer message with what the responder may know around it.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// What the customer wrote.
    pub text: &'a str,
    /// Their account facts, when the desk has a row for them.
    pub account: Option<&'a CustomerAccount>,
    /// The conversation's language so far, or the client's (the browser's), for messages
    /// too short to tell.
    pub language_hint: Option<&'a str>,
    /// The evidence of the bot's last reply in this conversation.
    pub previous: Option<&'a Evidence>,
}

/// Fewer words than this and the hint, when there is one, decides the language: a
/// character-n-gram model guesses wrong on "card blocked".
const SHORT_FOR_DETECTION: usize = 4;

/// The responder over one version of the knowledge base.
pub struct Responder {
    index: FaqIndex,
    thresholds: Thresholds,
    config: ResponderConfig,
    templates: Templates,
    /// Languages the knowledge base has entries in.
    languages: BTreeSet<String>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("index", &self.index)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

impl Responder {
    /// Indexes `entries` with `models` (the first is the primary), calibrates the fusion and
    /// then the thresholds on the entries themselves.
    pub async fn build(
        entries: Vec<FaqEntry>,
        models: Vec<DenseModel>,
        config: ResponderConfig,
    ) -> Result<Self, SupportError> {
        let languages = entries.iter().map(|e| e.language.clone()).collect();
        let mut index = FaqIndex::build(entries, models).await?;
        index.calibrate().await?;
        let held_out = index.held_out_rankings(2).await?;
        let thresholds = Thresholds::calibrate(&held_out, &config, index.is_dense());
        Ok(Self {
            index,
            thresholds,
            config,
            templates: Templates::new(),
            languages,
        })
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The index answered from.
    pub fn index(&self) -> &FaqIndex {
        &self.index
    }

    /// The language of a message: detected, or the hint for a short one.
    pub fn message_language(&self, text: &str, hint: Option<&str>) -> Option<String> {
        let detected = finpulse_inference::language::detect(text).map(|l| l.code.to_owned());
        let short = text.split_whitespace().count() < SHORT_FOR_DETECTION;
        match (detected, hint) {
            (_, Some(hint)) if short => Some(hint.to_owned()),
            (Some(detected), _) => Some(detected),
            (None, hint) => hint.map(str::to_owned),
        }
    }

    /// The language replies to a `language` message are written in: it, when the knowledge
    /// base and the templates have it; English otherwise.
    fn reply_language(&self, language: Option<&str>) -> String {
        language
            .filter(|l| self.languages.contains(*l) && self.templates.speaks(l))
            .unwrap_or(FALLBACK_LANGUAGE)
            .to_owned()
    }

    /// The answer threshold for an entry's intent.
    fn threshold_for(&self, intent: &str) -> f32 {
        self.config
            .intent_thresholds
            .get(intent)
            .copied()
            .unwrap_or(self.thresholds.answer)
    }

    /// The reply to one customer message.
    pub async fn respond(&self, turn: Turn<'_>) -> Result<Reply, SupportError> {
        let language = self.message_language(turn.text, turn.language_hint);
        let reply_language = self.reply_language(language.as_deref());
        let mut evidence = Evidence {
            decision: Decision::HandoffRequested,
            language,
            reply_language,
            intent: None,
            confidence: None,
            lead: None,
            threshold: self.thresholds.answer,
            margin: self.thresholds.margin,
            entries: Vec::new(),
            answered_from: None,
            options: Vec::new(),
            facts: Vec::new(),
        };
        if human::asks_for_human(turn.text) {
            return Ok(self.hand_off(evidence));
        }
        if let Some(chosen) = picked_option(turn.text, turn.previous) {
            evidence.decision = Decision::Answer;
            evidence.intent = self.intent_of(&chosen);
            return Ok(self.answer(&chosen, evidence, turn.account));
        }
        let ranking = self
            .index
            .search(turn.text, self.config.candidates.max(2))
            .await?
            .fused;
        evidence.entries = ranking
            .iter()
            .map(|ranked| Retrieved {
                id: ranked.id.clone(),
                intent: self.intent_of(&ranked.id).unwrap_or_default(),
                confidence: confidence(ranked),
            })
            .collect();
        let Some(top) = ranking.first() else {
            return Ok(self.unsure(evidence, turn.previous));
        };
        let intent = self.intent_of(&top.id).unwrap_or_default();
        evidence.threshold = self.threshold_for(&intent);
        evidence.intent = Some(intent);
        evidence.confidence = Some(confidence(top));
        evidence.lead = Some(lead(&ranking));
        // The fusion ranked first an entry the primary model is less sure of than another by
        // more than the margin: the rankers disagree, so ask which was meant rather than
        // answer either (when the surer one passes its own threshold).
        if let Some(rival) = more_confident_than_top(&ranking, self.thresholds.margin)
            && confidence(rival)
                >= self.threshold_for(&self.intent_of(&rival.id).unwrap_or_default())
        {
            let options = vec![rival.id.clone(), top.id.clone()];
            return Ok(self.clarify(options, evidence));
        }
        if confidence(top) < evidence.threshold {
            return Ok(self.unsure(evidence, turn.previous));
        }
        if lead(&ranking) <= self.thresholds.margin {
            let options: Vec<String> = ranking
                .iter()
                .take_while(|r| confidence(top) - confidence(r) <= self.thresholds.margin)
                .filter(|r| {
                    confidence(r) >= self.threshold_for(&self.intent_of(&r.id).unwrap_or_default())
                })
                .take(3)
                .map(|r| r.id.clone())
                .collect();
            if options.len() > 1 {
                return Ok(self.clarify(options, evidence));
            }
        }
        evidence.decision = Decision::Answer;
        let id = top.id.clone();
        Ok(self.answer(&id, evidence, turn.account))
    }

    fn intent_of(&self, id: &str) -> Option<String> {
        self.index
            .entries()
            .iter()
            .find(|entry| entry.id == id)
            .map(|entry| entry.intent.clone())
    }

    /// The version of entry `id` to answer in `language`: that language's, else English,
    /// else any; with whether it fell back.
    fn version(&self, id: &str, language: &str) -> Option<(&FaqEntry, bool)> {
        let versions = || self.index.entries().iter().filter(move |e| e.id == id);
        versions()
            .find(|e| e.language == language)
            .map(|e| (e, false))
            .or_else(|| {
                versions()
                    .find(|e| e.language == FALLBACK_LANGUAGE)
                    .map(|e| (e, true))
            })
            .or_else(|| versions().next().map(|e| (e, true)))
    }

    fn hand_off(&self, mut evidence: Evidence) -> Reply {
        let template = if evidence.decision == Decision::HandoffUnsure {
            "handoff-unsure"
        } else {
            "handoff-requested"
        };
        if evidence.decision != Decision::HandoffUnsure {
            evidence.decision = Decision::HandoffRequested;
        }
        Reply {
            text: self
                .templates
                .render(&evidence.reply_language, template, &[]),
            evidence,
        }
    }

    /// Not confident: ask for other words once, then hand off.
    fn unsure(&self, mut evidence: Evidence, previous: Option<&Evidence>) -> Reply {
        let asked_before =
            previous.is_some_and(|p| matches!(p.decision, Decision::Rephrase | Decision::Clarify));
        if asked_before {
            evidence.decision = Decision::HandoffUnsure;
            return self.hand_off(evidence);
        }
        evidence.decision = Decision::Rephrase;
        Reply {
            text: self
                .templates
                .render(&evidence.reply_language, "rephrase", &[]),
            evidence,
        }
    }

    fn clarify(&self, options: Vec<String>, mut evidence: Evidence) -> Reply {
        let language = evidence.reply_language.clone();
        let mut lines = vec![self.templates.render(&language, "clarify", &[])];
        for (number, id) in options.iter().enumerate() {
            let question = self
                .version(id, &language)
                .and_then(|(entry, _)| entry.questions.first().cloned())
                .unwrap_or_else(|| id.clone());
            let number = (number + 1).to_string();
            lines.push(self.templates.render(
                &language,
                "clarify-option",
                &[("number", &number), ("question", &question)],
            ));
        }
        lines.push(self.templates.render(&language, "clarify-close", &[]));
        evidence.decision = Decision::Clarify;
        evidence.options = options;
        Reply {
            text: lines.join("\n"),
            evidence,
        }
    }

    fn answer(&self, id: &str, mut evidence: Evidence, account: Option<&CustomerAccount>) -> Reply {
        let language = evidence.reply_language.clone();
        let Some((entry, fell_back)) = self.version(id, &language) else {
            // The entry went between retrieval and now (a live re-index): nothing to
            // answer from.
            evidence.decision = Decision::HandoffUnsure;
            return self.hand_off(evidence);
        };
        let composed = compose::answer(&self.templates, &language, entry, fell_back, account);
        evidence.answered_from = Some(entry.id.clone());
        evidence.facts = composed.facts;
        Reply {
            text: composed.text,
            evidence,
        }
    }
}

/// The entry a customer picks by number ("2", "#2", "2.") after being asked back.
fn picked_option(text: &str, previous: Option<&Evidence>) -> Option<String> {
    let previous = previous.filter(|p| p.decision == Decision::Clarify)?;
    let digits = text
        .trim()
        .trim_start_matches('#')
        .trim_end_matches(['.', ')']);
    let number: usize = digits.parse().ok()?;
    previous.options.get(number.checked_sub(1)?).cloned()
}

#[cfg(test)]
mod tests;
