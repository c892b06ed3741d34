//! The support desk's vocabulary: FAQ entries (the knowledge base the automated responder
//! answers from), conversations and their messages, and the account facts the responder may
//! quote (name, tier, cards); tickets, with their triage (category, sentiment, priority) and
//! their SLA clocks.
//!
//! `finpulse-support` indexes and retrieves entries; the store will keep them and the schema
//! serves them. Serde names are the stored and file names (`finpulse import faq`).

use serde::{Deserialize, Serialize};

/// One FAQ entry in one language: the ways customers ask it and the answer the desk gives.
///
/// An entry written in several languages is several values with the same `id`; retrieval
/// finds the entry (the id), and the responder answers from the version in the customer's
/// language.
///
/// The API shows it as it is (`FaqEntry`) and takes it as it is (`FaqEntryInput`, which
/// replaces the entry with the same id and language).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject, async_graphql::InputObject),
    graphql(input_name = "FaqEntryInput")
)]
pub struct FaqEntry {
    /// Stable id shared by the entry's languages (`card-declined`; 1 to 128 bytes).
    pub id: String,
    /// ISO 639-1 code of the questions and answer (`en`, `de`).
    pub language: String,
    /// The intent the entry answers (`card_payment_failed`); several entries may share one.
    #[serde(default)]
    #[cfg_attr(feature = "graphql", graphql(default))]
    pub intent: String,
    /// Free labels (`cards`, `payments`; at most 32).
    #[serde(default)]
    #[cfg_attr(feature = "graphql", graphql(default))]
    pub tags: Vec<String>,
    /// Question variants, each a way a customer might ask (1 to 100).
    pub questions: Vec<String>,
    /// The answer (up to 8,000 bytes), with `{placeholders}` (`{name}`, `{card_status}`…) the
    /// responder fills from the customer's account.
    pub answer: String,
}

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum ConversationStatus {
    /// The bot is answering.
    Open,
    /// Handed off; waiting in the queue for an agent.
    WaitingForAgent,
    /// An agent has claimed it.
    WithAgent,
    /// Closed by an agent (or the customer); may be rated.
    Resolved,
}

impl ConversationStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::WaitingForAgent => "waiting_for_agent",
            Self::WithAgent => "with_agent",
            Self::Resolved => "resolved",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "waiting_for_agent" => Some(Self::WaitingForAgent),
            "with_agent" => Some(Self::WithAgent),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// One support conversation between a customer, the bot and agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Stable id.
    pub id: String,
    /// The customer's user id: the only customer who may read it.
    pub customer: String,
    /// Where it stands.
    pub status: ConversationStatus,
    /// The agent who claimed it, while one has.
    #[serde(default)]
    pub agent: Option<String>,
    /// The customer's language as last detected (ISO 639-1).
    #[serde(default)]
    pub language: Option<String>,
    /// The customer's rating after resolution, 1 to 5.
    #[serde(default)]
    pub csat: Option<u8>,
    /// When it was opened.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When anything last happened in it.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Participant {
    /// The conversation's customer.
    Customer,
    /// The automated responder.
    Bot,
    /// A human agent.
    Agent,
}

impl Participant {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Bot => "bot",
            Self::Agent => "agent",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "customer" => Some(Self::Customer),
            "bot" => Some(Self::Bot),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id (a redelivered message keeps it, so it is kept once).
    pub id: String,
    /// The conversation it belongs to.
    pub conversation: String,
    /// Who wrote it.
    pub author: Participant,
    /// The writer's user id (the customer's, an agent's, `bot`).
    pub author_id: String,
    /// What it says.
    pub text: String,
    /// Its language as detected (ISO 639-1), when detected.
    #[serde(default)]
    pub language: Option<String>,
    /// For the bot's messages: what it found and decided (intent, confidence, retrieved
    /// entries), as the responder wrote it.
    #[serde(default)]
    pub evidence: Option<serde_json::Value>,
    /// When it was written.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What the message does to its conversation besides saying something (an agent claims,
    /// transfers or resolves it; the customer rates it), in the conversation's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ConversationAction>,
    /// For the customer's words: the tone the sentiment model read, when one was loaded. A
    /// negative one raises the priority of the conversation's open ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
}

/// A change to a conversation, carried by a message so it travels in the conversation's order
/// with everything else said in it (one writer: the support processor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationAction {
    /// The writing agent takes the conversation.
    Claim,
    /// The writing agent hands it to agent `to`.
    Transfer {
        /// The agent's user id.
        to: String,
    },
    /// The writing agent closes it.
    Resolve,
    /// The customer asks for a person with a ticket (`createTicket`): the message's text is
    /// their description; the conversation goes to the agents' queue without the bot.
    OpenTicket {
        /// The customer's short subject line.
        subject: String,
    },
    /// The customer rates how it went, 1 to 5 (CSAT).
    Rate {
        /// 1 (very unsatisfied) to 5 (very satisfied).
        score: u8,
    },
}

/// What a payment card can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum CardStatus {
    /// Pays and withdraws.
    Active,
    /// Paused by the customer in the app; unfreezing restores it.
    Frozen,
    /// Stopped by the bank (fraud suspicion, loss, too many wrong PINs); a new card is needed
    /// or the bank lifts it.
    Blocked,
    /// Past its expiry date.
    Expired,
    /// Ordered and on its way; not yet activated.
    Ordered,
}

impl CardStatus {
    /// The name in files and templates (`card-status-blocked`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Blocked => "blocked",
            Self::Expired => "expired",
            Self::Ordered => "ordered",
        }
    }
}

/// One of a customer's payment cards, as the support desk may quote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// The card's id in the bank's systems.
    pub id: String,
    /// The last four digits of its number: all the desk ever shows.
    pub last4: String,
    /// What it can do now.
    pub status: CardStatus,
}

/// How the bank serves a customer; it weighs on ticket priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum CustomerTier {
    /// Everyone.
    #[default]
    Standard,
    /// Paying for a premium plan.
    Premium,
    /// Private banking.
    Private,
}

/// What the support desk knows of a customer's account: the facts a reply may quote. The
/// bank's core systems own them; finpulse keeps the copy it is sent (`finpulse import
/// customers`, later a feed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAccount {
    /// The customer's user id (the token's `sub`).
    pub customer: String,
    /// The name a reply greets them by.
    pub name: String,
    /// Their service tier.
    #[serde(default)]
    pub tier: CustomerTier,
    /// Their payment cards.
    #[serde(default)]
    pub cards: Vec<Card>,
}

/// The tone of a customer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Sentiment {
    /// Upset, worried, angry.
    Negative,
    /// Matter of fact.
    Neutral,
    /// Pleased, thankful.
    Positive,
}

impl Sentiment {
    /// The label in files and models.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negative => "negative",
            Self::Neutral => "neutral",
            Self::Positive => "positive",
        }
    }

    /// From the label.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "negative" => Some(Self::Negative),
            "neutral" => Some(Self::Neutral),
            "positive" => Some(Self::Positive),
            _ => None,
        }
    }
}

/// How soon a ticket must be worked; the queue is worked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum TicketPriority {
    /// Money is at risk now (fraud, a lost or stolen card).
    Urgent,
    /// The customer cannot use their money or access.
    High,
    /// Everything else that needs an answer.
    Normal,
    /// Information, feedback.
    Low,
}

impl TicketPriority {
    /// Every priority, most urgent first.
    pub const ALL: [Self; 4] = [Self::Urgent, Self::High, Self::Normal, Self::Low];

    /// 0 for urgent to 3 for low: the stored sort key.
    pub fn rank(self) -> i16 {
        match self {
            Self::Urgent => 0,
            Self::High => 1,
            Self::Normal => 2,
            Self::Low => 3,
        }
    }

    /// One step more urgent (urgent stays urgent).
    pub fn raised(self) -> Self {
        match self {
            Self::Urgent | Self::High => Self::Urgent,
            Self::Normal => Self::High,
            Self::Low => Self::Normal,
        }
    }

    /// The name in files and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "urgent",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum TicketStatus {
    /// Waiting for or being worked by an agent.
    Open,
    /// Its conversation was resolved.
    Solved,
}

impl TicketStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Solved => "solved",
        }
    }
}

/// How far a ticket's SLA has run, in the order it runs: the first-response clock, then (once
/// an agent answered) the resolution clock. Each stage is reached once and escalates once.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum SlaStage {
    /// Within its targets.
    #[default]
    OnTrack,
    /// Most of the first-response time is gone and no agent has answered.
    FirstResponseAtRisk,
    /// The first-response target passed with no agent's answer.
    FirstResponseBreached,
    /// Most of the resolution time is gone.
    ResolutionAtRisk,
    /// The resolution target passed unresolved.
    ResolutionBreached,
}

impl SlaStage {
    /// The stored order: 0 on track to 4 resolution breached.
    pub fn level(self) -> i16 {
        match self {
            Self::OnTrack => 0,
            Self::FirstResponseAtRisk => 1,
            Self::FirstResponseBreached => 2,
            Self::ResolutionAtRisk => 3,
            Self::ResolutionBreached => 4,
        }
    }

    /// The name in metrics and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::FirstResponseAtRisk => "first_response_at_risk",
            Self::FirstResponseBreached => "first_response_breached",
            Self::ResolutionAtRisk => "resolution_at_risk",
            Self::ResolutionBreached => "resolution_breached",
        }
    }
}

/// A support ticket: a conversation that needs a human, triaged on arrival. One per
/// conversation (its id is the conversation's); a conversation handed off again after it was
/// solved reopens its ticket with fresh SLA clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// The id, the same as its conversation's.
    pub id: String,
    /// The customer's user id.
    pub customer: String,
    /// A short line: the customer's first words, or the subject they gave.
    pub subject: String,
    /// What the customer said (their messages up to the handoff, or the ticket's text).
    pub description: String,
    /// The customer's language (ISO 639-1), when known.
    #[serde(default)]
    pub language: Option<String>,
    /// The classifier's category (`card_fraud`), its best guess even when unsure.
    pub category: String,
    /// The classifier's probability for it (0 when no classifier was loaded).
    pub category_confidence: f32,
    /// The category is too unsure to route on: a person should check it.
    pub needs_triage: bool,
    /// The tone of the customer's words, when a sentiment model was loaded.
    #[serde(default)]
    pub sentiment: Option<Sentiment>,
    /// The customer's tier when the ticket was opened.
    #[serde(default)]
    pub tier: CustomerTier,
    /// How soon it must be worked.
    pub priority: TicketPriority,
    /// Why it got that priority, in words (`category card_fraud is urgent`).
    #[serde(default)]
    pub priority_reasons: Vec<String>,
    /// Where it stands.
    pub status: TicketStatus,
    /// How far its SLA has run.
    #[serde(default)]
    pub sla_stage: SlaStage,
    /// When it was opened (or last reopened).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When an agent must first answer.
    pub first_response_due: chrono::DateTime<chrono::Utc>,
    /// When an agent first answered.
    #[serde(default)]
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it must be solved.
    pub resolution_due: chrono::DateTime<chrono::Utc>,
    /// When it was solved.
    #[serde(default)]
    pub solved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When anything last changed (strictly increasing: the store's check that a write saw
    /// the latest version).
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum TicketChange {
    /// Opened (or reopened).
    Opened,
    /// An agent answered for the first time.
    Answered,
    /// An SLA stage was reached; the ticket's `sla_stage` says which.
    Escalated,
    /// Its conversation was resolved.
    Solved,
    /// Opened before the triage models were ready, now triaged (category, sentiment,
    /// priority and due times may all have changed).
    Triaged,
    /// A later message of the customer read negative: the ticket's sentiment is negative
    /// now, and its priority and due times may have risen.
    SentimentChanged,
}

/// How resolved conversations were rated (CSAT), over all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsatCounts {
    /// Resolved conversations.
    pub resolved: u64,
    /// How many were rated 1, 2, 3, 4 and 5.
    pub by_score: [u64; 5],
}

impl CsatCounts {
    /// How many were rated at all.
    pub fn ratings(&self) -> u64 {
        self.by_score.iter().sum()
    }

    /// The mean rating, when there is any.
    pub fn average(&self) -> Option<f64> {
        let ratings = self.ratings();
        let total: u64 = self
            .by_score
            .iter()
            .zip(1..)
            .map(|(n, score)| n * score)
            .sum();
        (ratings > 0).then(|| total as f64 / ratings as f64)
    }
}
