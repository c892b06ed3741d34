//! Tickets: every conversation that needs a person becomes a ticket, triaged on arrival and
//! watched against its SLA.
//!
//! - A ticket opens when the bot hands a conversation off, or when a customer opens one
//!   directly (`createTicket`); its id is the conversation's. [`triage`] gives it a category
//!   with its confidence (below `triage_confidence`: "needs triage") and the customer's
//!   sentiment; [`policy`] turns category, sentiment and tier into a priority with its reasons,
//!   and the priority into two SLA clocks (first response, resolution). Tickets opened before
//!   the models are ready (they train or load after the FAQ at start-up) open uncategorized
//!   and are triaged the moment the models arrive: nothing waits on them.
//! - An agent's first answer stops the first clock; resolving the conversation solves the
//!   ticket; a solved ticket's conversation handed off again reopens it with fresh clocks.
//! - The SLA watcher ([`Tickets::watch`]) escalates each stage a clock reaches, once: the
//!   ticket is written (a breach also raises its priority a step), a [`TicketEvent`] goes on
//!   `support.tickets` for systems that page people, the same is pushed to agents'
//!   `ticketUpdates`, and `finpulse_support_sla_escalations_total` counts it.
//!
//! Time is read from a [`Clock`] anchored on tokio's clock, so tests drive the SLA with
//! `tokio::time::pause` and `advance` through the same code that runs in production.

mod clock;
mod metrics;
pub mod policy;
pub mod triage;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use finpulse_bus::envelope::{Envelope, EventPayload};
use finpulse_bus::{EventLog, FanOut};
use finpulse_core::support::{
    Conversation, ConversationAction, CustomerTier, Message, Participant, Sentiment, SlaStage,
    Ticket, TicketPriority, TicketStatus,
};
use finpulse_store::TicketData;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::SupportError;
pub use clock::Clock;
pub use finpulse_core::support::TicketChange;
pub use metrics::TicketMetrics;
pub use policy::{SlaTargets, TicketPolicy};
pub use triage::{LABELLED_TICKETS, TriageModels};

/// Log topic of ticket events, keyed by ticket.
pub const TICKETS_TOPIC: &str = "support.tickets";

/// The fan-out channel agents' ticket feeds listen on. Built here only.
pub fn tickets_channel() -> String {
    "support.tickets".to_owned()
}

/// The longest subject kept, in characters.
const MAX_SUBJECT_CHARS: usize = 120;
/// Customer messages a handoff's ticket describes.
const DESCRIBED_MESSAGES: usize = 10;
/// Tickets one watcher pass escalates at most (the rest come next pass).
const DUE_PER_PASS: u32 = 500;

/// A ticket event (envelope type `support.ticket`, version 1): on the log and pushed to
/// agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// What happened.
    pub change: TicketChange,
    /// The ticket after it.
    pub ticket: Ticket,
}

impl EventPayload for TicketEvent {
    const TYPE: &'static str = "support.ticket";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.ticket.id
    }

    fn validate(&self) -> Result<(), String> {
        crate::events::validate_id("ticket", &self.ticket.id)
    }
}

/// The category of a ticket nothing has triaged yet.
pub const UNCATEGORIZED: &str = "uncategorized";

/// The ticket desk.
pub struct Tickets {
    store: Arc<dyn TicketData>,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    policy: TicketPolicy,
    /// `None` until trained or read at start-up, or for good when there is no embedding
    /// model: tickets opened meanwhile need triage (and are triaged once models arrive).
    triage: RwLock<Option<Arc<TriageModels>>>,
    clock: Clock,
    metrics: TicketMetrics,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// `text` cut to at most `max` characters at a word boundary, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > max / 2 => cut[..space].to_owned(),
        _ => cut,
    };
    format!("{cut}…")
}

/// A version after `ticket`'s: now, or a millisecond after it when the clock has not moved.
fn next_version(ticket: &Ticket, now: DateTime<Utc>) -> DateTime<Utc> {
    now.max(ticket.updated_at + Duration::milliseconds(1))
}

impl Tickets {
    /// A ticket desk over `store`, with events on `log` and `fanout`. Triage waits for
    /// [`Tickets::set_triage`].
    pub fn new(
        store: Arc<dyn TicketData>,
        log: Arc<dyn EventLog>,
        fanout: Arc<dyn FanOut>,
        policy: TicketPolicy,
        metrics: TicketMetrics,
    ) -> Self {
        Self {
            store,
            log,
            fanout,
            policy,
            triage: RwLock::new(None),
            clock: Clock::start(),
            metrics,
        }
    }

    /// One ticket as a viewer may see it: an agent, any; a customer, only their own. `None`
    /// when there is none the viewer may see.
    pub async fn ticket_for(
        &self,
        viewer: &str,
        is_agent: bool,
        id: &str,
    ) -> Result<Option<Ticket>, SupportError> {
        let ticket = self.store.ticket(id).await?;
        Ok(ticket.filter(|ticket| is_agent || ticket.customer == viewer))
    }

    /// The tickets a viewer sees with `status`: an agent, every one (most urgent first, then
    /// oldest); a customer, their own (newest first). At most `first`.
    pub async fn tickets_for(
        &self,
        viewer: &str,
        is_agent: bool,
        status: TicketStatus,
        first: u32,
    ) -> Result<Vec<Ticket>, SupportError> {
        match is_agent {
            true => self.store.tickets_in(status, first).await,
            false => self.store.tickets_of(viewer, Some(status), first).await,
        }
        .map_err(SupportError::from)
    }

    /// The fan-out, for subscriptions.
    pub fn fanout(&self) -> &Arc<dyn FanOut> {
        &self.fanout
    }

    /// The policy.
    pub fn policy(&self) -> &TicketPolicy {
        &self.policy
    }

    /// The clock tickets are timed by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Hands over the triage models and triages the open tickets opened without them;
    /// returns how many it triaged.
    pub async fn set_triage(&self, models: TriageModels) -> Result<usize, SupportError> {
        let models = Arc::new(models);
        *self.triage.write() = Some(models.clone());
        self.triage_waiting(&models).await
    }

    /// Whether triage models are loaded.
    pub fn has_triage(&self) -> bool {
        self.triage.read().is_some()
    }

    /// The sentiment of a customer's message, once the triage models are loaded (`None`
    /// before, or when the model fails: the message is kept without one).
    pub async fn message_sentiment(&self, text: &str) -> Option<Sentiment> {
        let models = self.triage.read().clone()?;
        match models.sentiment_of(text).await {
            Ok(sentiment) => Some(sentiment),
            Err(error) => {
                warn!(%error, "failed to read a message's sentiment");
                None
            }
        }
    }

    /// Category, confidence and sentiment of a ticket's text; uncategorized without models
    /// or when they fail (a person triages it).
    async fn triage_text(
        &self,
        models: Option<&TriageModels>,
        id: &str,
        subject: &str,
        description: &str,
    ) -> (String, f32, Option<Sentiment>) {
        let Some(models) = models else {
            return (UNCATEGORIZED.to_owned(), 0.0, None);
        };
        match models.triage(&format!("{subject}\n{description}")).await {
            Ok(t) => (t.category, t.confidence, Some(t.sentiment)),
            Err(error) => {
                warn!(%error, ticket = %id, "triage failed; the ticket needs triage");
                (UNCATEGORIZED.to_owned(), 0.0, None)
            }
        }
    }

    /// Sets the triage results, priority and due times (from its opening) of `ticket`.
    fn apply_triage(
        &self,
        ticket: &mut Ticket,
        (category, confidence, sentiment): (String, f32, Option<Sentiment>),
    ) {
        let needs_triage = confidence < self.policy.triage_confidence;
        let (priority, reasons) =
            self.policy
                .prioritize(&category, needs_triage, sentiment, ticket.tier);
        let (first_response_due, resolution_due) =
            self.policy.due_times(priority, ticket.created_at);
        ticket.category = category;
        ticket.category_confidence = confidence;
        ticket.needs_triage = needs_triage;
        ticket.sentiment = sentiment;
        ticket.priority = priority;
        ticket.priority_reasons = reasons;
        ticket.first_response_due = first_response_due;
        ticket.resolution_due = resolution_due;
    }

    /// Marks `ticket` negative, with the priority the policy gives that when it is more
    /// urgent than the ticket's (which may already be raised by an SLA breach), and due times
    /// brought forward to match, never pushed back.
    fn turn_negative(&self, ticket: &mut Ticket) {
        ticket.sentiment = Some(Sentiment::Negative);
        let (priority, mut reasons) = self.policy.prioritize(
            &ticket.category,
            ticket.needs_triage,
            Some(Sentiment::Negative),
            ticket.tier,
        );
        if priority >= ticket.priority {
            return;
        }
        reasons.push("a later message read negative".into());
        let (first_response_due, resolution_due) =
            self.policy.due_times(priority, ticket.created_at);
        ticket.priority = priority;
        ticket.priority_reasons = reasons;
        ticket.first_response_due = ticket.first_response_due.min(first_response_due);
        ticket.resolution_due = ticket.resolution_due.min(resolution_due);
    }

    /// Triages the open tickets nothing has triaged (opened while the models were loading).
    async fn triage_waiting(&self, models: &TriageModels) -> Result<usize, SupportError> {
        let open = self
            .store
            .tickets_in(TicketStatus::Open, DUE_PER_PASS)
            .await?;
        let mut triaged = 0;
        for mut ticket in open {
            if ticket.category != UNCATEGORIZED || ticket.sentiment.is_some() {
                continue;
            }
            let read_at = ticket.updated_at;
            let found = self
                .triage_text(
                    Some(models),
                    &ticket.id,
                    &ticket.subject,
                    &ticket.description,
                )
                .await;
            if found.0 == UNCATEGORIZED {
                continue;
            }
            self.apply_triage(&mut ticket, found);
            // A lost race means an agent or the watcher changed it; it stays untriaged
            // for a person, which is what it was.
            if self
                .write_over(&mut ticket, read_at, self.clock.now())
                .await?
            {
                self.announce(TicketChange::Triaged, &ticket).await;
                triaged += 1;
            }
        }
        Ok(triaged)
    }

    /// Opens (or reopens) the ticket of `conversation`: `subject` when the customer gave one,
    /// else their first words; described by their messages in `history`. A ticket already
    /// open is returned as it is (a redelivered handoff opens one ticket).
    pub async fn open(
        &self,
        conversation: &Conversation,
        history: &[Message],
        subject: Option<&str>,
        tier: CustomerTier,
    ) -> Result<Ticket, SupportError> {
        let existing = self.store.ticket(&conversation.id).await?;
        if let Some(ticket) = &existing
            && ticket.status == TicketStatus::Open
        {
            return Ok(ticket.clone());
        }
        let said: Vec<&str> = history
            .iter()
            // What the customer said: their messages, with the one that opened the ticket.
            .filter(|m| {
                m.author == Participant::Customer
                    && matches!(m.action, None | Some(ConversationAction::OpenTicket { .. }))
            })
            .map(|m| m.text.as_str())
            .collect();
        let recent = &said[said.len().saturating_sub(DESCRIBED_MESSAGES)..];
        let description = match subject {
            Some(subject) if recent.is_empty() => subject.to_owned(),
            _ => recent.join("\n"),
        };
        let subject = shorten(
            subject
                .or_else(|| said.first().copied())
                .unwrap_or("Support request"),
            MAX_SUBJECT_CHARS,
        );
        let models = self.triage.read().clone();
        let found = self
            .triage_text(models.as_deref(), &conversation.id, &subject, &description)
            .await;
        let now = self.clock.now();
        let mut ticket = Ticket {
            id: conversation.id.clone(),
            customer: conversation.customer.clone(),
            subject,
            description,
            language: conversation.language.clone(),
            category: String::new(),
            category_confidence: 0.0,
            needs_triage: true,
            sentiment: None,
            tier,
            priority: TicketPriority::Normal,
            priority_reasons: Vec::new(),
            status: TicketStatus::Open,
            sla_stage: SlaStage::OnTrack,
            created_at: now,
            first_response_due: now,
            first_response_at: None,
            resolution_due: now,
            solved_at: None,
            updated_at: existing.as_ref().map_or(now, |old| next_version(old, now)),
        };
        self.apply_triage(&mut ticket, found);
        let next_due = self.policy.next_due(&ticket);
        let written = match &existing {
            None => self.store.create_ticket(&ticket, next_due).await,
            Some(old) => {
                self.store
                    .replace_ticket(&ticket, old.updated_at, next_due)
                    .await
            }
        }?;
        if !written {
            // Another writer opened or changed it meanwhile: theirs stands.
            return self
                .store
                .ticket(&conversation.id)
                .await?
                .ok_or_else(|| SupportError::NotFound(format!("no ticket `{}`", conversation.id)));
        }
        self.metrics
            .opened
            .with_label_values(&[ticket.priority.as_str()])
            .inc();
        info!(ticket = %ticket.id, category = %ticket.category, confidence = ticket.category_confidence, priority = ticket.priority.as_str(), "ticket opened");
        self.announce(TicketChange::Opened, &ticket).await;
        Ok(ticket)
    }

    /// Moves the conversation's ticket on after `message`: an agent's first answer stops the
    /// first-response clock; `resolved` solves it; a customer's message that reads negative
    /// turns the ticket's sentiment negative and raises its priority (never lowers it).
    /// Nothing when it has no open ticket.
    pub async fn after_message(
        &self,
        conversation: &Conversation,
        message: &Message,
        resolved: bool,
    ) -> Result<(), SupportError> {
        let answered = message.author == Participant::Agent && message.action.is_none();
        let upset = message.author == Participant::Customer
            && message.action.is_none()
            && message.sentiment == Some(Sentiment::Negative);
        if !answered && !resolved && !upset {
            return Ok(());
        }
        // A lost race with the watcher is read again; three tries is plenty for two writers.
        for _ in 0..3 {
            let Some(mut ticket) = self.store.ticket(&conversation.id).await? else {
                return Ok(());
            };
            if ticket.status != TicketStatus::Open {
                return Ok(());
            }
            let read_at = ticket.updated_at;
            let now = self.clock.now();
            let change = if resolved {
                ticket.status = TicketStatus::Solved;
                ticket.solved_at = Some(now);
                TicketChange::Solved
            } else if upset {
                if ticket.sentiment == Some(Sentiment::Negative) {
                    return Ok(());
                }
                self.turn_negative(&mut ticket);
                TicketChange::SentimentChanged
            } else if ticket.first_response_at.is_none() {
                ticket.first_response_at = Some(now);
                TicketChange::Answered
            } else {
                return Ok(());
            };
            if self.write_over(&mut ticket, read_at, now).await? {
                self.announce(change, &ticket).await;
                return Ok(());
            }
        }
        warn!(ticket = %conversation.id, "gave up moving a ticket on after three lost races");
        Ok(())
    }

    /// One SLA pass at `now`: escalates every open ticket whose clock reached a stage;
    /// returns the tickets escalated.
    pub async fn escalate_due(&self, now: DateTime<Utc>) -> Result<Vec<Ticket>, SupportError> {
        let due = self.store.tickets_due(now, DUE_PER_PASS).await?;
        let mut escalated = Vec::new();
        for mut ticket in due {
            let read_at = ticket.updated_at;
            let reached = self.policy.reached(&ticket, now);
            if let Some(stage) = reached {
                let breach = matches!(
                    stage,
                    SlaStage::FirstResponseBreached | SlaStage::ResolutionBreached
                );
                // A breach the ticket jumped past (the watcher was down) raises it once.
                if breach && ticket.priority != ticket.priority.raised() {
                    let raised = ticket.priority.raised();
                    ticket.priority_reasons.push(format!(
                        "{}: raised to {}",
                        stage.as_str().replace('_', " "),
                        raised.as_str()
                    ));
                    ticket.priority = raised;
                }
                ticket.sla_stage = stage;
            }
            // Losing the race means someone changed the ticket (answered, solved); the
            // next pass reads it again.
            if !self.write_over(&mut ticket, read_at, now).await? {
                continue;
            }
            if let Some(stage) = reached {
                self.metrics
                    .escalations
                    .with_label_values(&[stage.as_str()])
                    .inc();
                warn!(ticket = %ticket.id, stage = stage.as_str(), priority = ticket.priority.as_str(), "SLA escalation");
                self.announce(TicketChange::Escalated, &ticket).await;
                escalated.push(ticket);
            }
        }
        Ok(escalated)
    }

    /// Runs SLA passes every `check_every_secs` until `shutdown`. A failed pass (the store
    /// away) is logged and the next one tries again: nothing is lost, due tickets stay due.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut every =
            tokio::time::interval(std::time::Duration::from_secs(self.policy.check_every_secs));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Shutdown first: once it is asked for, no further pass starts, even when a tick
            // is due at the same moment (an unbiased select would pick either).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            if let Err(error) = self.escalate_due(self.clock.now()).await {
                warn!(%error, "SLA pass failed; trying again next time");
            }
        }
    }

    /// Writes `ticket`, changed from the version read at `read_at`, as the next version (its
    /// next due time recomputed); `false` when someone wrote it meanwhile (read it again).
    async fn write_over(
        &self,
        ticket: &mut Ticket,
        read_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, SupportError> {
        ticket.updated_at = now.max(read_at + Duration::milliseconds(1));
        let next_due = self.policy.next_due(ticket);
        self.store
            .replace_ticket(ticket, read_at, next_due)
            .await
            .map_err(SupportError::from)
    }

    /// Puts a ticket event on the log and pushes it to agents (best effort: the ticket is
    /// stored; a listener that missed it reads the queue again).
    async fn announce(&self, change: TicketChange, ticket: &Ticket) {
        let event = TicketEvent {
            change,
            ticket: ticket.clone(),
        };
        match Envelope::wrap(&event).and_then(|envelope| envelope.to_bytes()) {
            Ok(bytes) => {
                if let Err(error) = self
                    .log
                    .append(TICKETS_TOPIC, &ticket.id, Bytes::from(bytes))
                    .await
                {
                    warn!(%error, ticket = %ticket.id, "failed to log a ticket event");
                }
            }
            Err(error) => warn!(%error, ticket = %ticket.id, "failed to encode a ticket event"),
        }
        let bytes = serde_json::to_vec(&event).expect("ticket events serialise");
        if let Err(error) = self
            .fanout
            .publish(&tickets_channel(), Bytes::from(bytes))
            .await
        {
            warn!(%error, ticket = %ticket.id, "failed to push a ticket event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_cut_at_a_word() {
        assert_eq!(
            shorten("  my   card\nwas declined ", 40),
            "my card was declined"
        );
        let cut = shorten(&"word ".repeat(40), 20);
        assert!(cut.ends_with('…') && cut.chars().count() <= 20, "{cut}");
    }
}
