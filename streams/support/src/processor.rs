//! The support processor: conversation messages in, kept, answered and pushed.
//!
//! Per message from `support.messages` (consumer group `support`), in the conversation's
//! order (the topic is keyed by conversation; a batch's conversations are handled
//! concurrently, each one's messages one after another):
//!
//! 1. keep it (retried while the store is away: committing past it would lose it) and move
//!    the conversation on: an agent's first message claims it, a customer writing into a
//!    resolved one reopens it with the bot;
//! 2. push it on the conversation's channel, so agents see the customer and the customer sees
//!    agents;
//! 3. while the bot has the conversation (status `open`), answer a customer's message with the
//!    responder, from their account row and the bot's last evidence; a handoff puts the
//!    conversation in the agents' queue. The reply's id derives from the message's, so a
//!    redelivered message is answered once.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use finpulse_bus::StreamError;
use finpulse_bus::runtime::{Decoded, Handler, Registry, Spec, retry};
use finpulse_core::support::{
    Conversation, ConversationAction, ConversationStatus, Message, Participant,
};
use futures::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::SupportError;
use crate::desk::SupportDesk;
use crate::events::{ChatUpdate, MESSAGES_DEAD_LETTER_TOPIC, MESSAGES_TOPIC, MessageEvent};
use crate::responder::{Evidence, Turn};

/// The processor's consumer group.
pub const SUPPORT_GROUP: &str = "support";

/// The processor's spec.
pub const SUPPORT: Spec = Spec {
    group: SUPPORT_GROUP,
    topic: MESSAGES_TOPIC,
    dead_letter_topic: MESSAGES_DEAD_LETTER_TOPIC,
    batch: 64,
};

/// The bot's author id on its messages.
pub const BOT_ID: &str = "bot";

/// Conversations a batch answers at once.
const CONCURRENT_CONVERSATIONS: usize = 16;

/// Messages read back for the bot's last evidence.
const HISTORY: u32 = 20;

/// The processor.
pub struct SupportProcessor {
    desk: Arc<SupportDesk>,
}

impl SupportProcessor {
    /// A processor answering for `desk`.
    pub fn new(desk: Arc<SupportDesk>) -> Self {
        Self { desk }
    }

    /// Keeps one message, moves its conversation on, pushes it and answers it.
    async fn handle_one(
        &self,
        mut message: Message,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let received = Instant::now();
        // The customer's tone, kept with their words (agents see it; a negative one raises
        // the ticket's priority). One embedding; none until the triage models are loaded.
        if message.author == Participant::Customer
            && message.action.is_none()
            && message.sentiment.is_none()
        {
            message.sentiment = self.desk.tickets().message_sentiment(&message.text).await;
        }
        let store = self.desk.store().clone();
        let Some(mut conversation) = retry("read a conversation", shutdown, || {
            store.conversation(&message.conversation)
        })
        .await
        .map_err(dependency("read a conversation"))?
        else {
            // The API only appends to conversations it found; a producer of ours writing
            // straight to the topic got the id wrong. Nothing to attach the message to.
            warn!(conversation = %message.conversation, "skipping a message for an unknown conversation");
            return Ok(());
        };
        let before = (conversation.status, conversation.agent.clone());
        move_on(&mut conversation, &message);
        self.keep(&conversation, &message, shutdown).await?;
        let mut agents: Vec<&str> = Vec::new();
        if message.author == Participant::Agent {
            agents.push(&message.author_id);
        }
        if let Some(ConversationAction::Transfer { to }) = &message.action {
            agents.push(to);
        }
        for agent in agents {
            retry("add a participant", shutdown, || {
                store.add_participant(&conversation.id, agent, Participant::Agent, message.at)
            })
            .await
            .map_err(dependency("add a participant"))?;
        }
        self.push(&conversation, message.clone()).await;
        self.announce_if_moved(&before, &conversation).await;
        let resolved = matches!(message.action, Some(ConversationAction::Resolve))
            && conversation.status == ConversationStatus::Resolved;
        self.desk
            .tickets()
            .after_message(&conversation, &message, resolved)
            .await
            .map_err(dependency("move a ticket on"))?;
        if let Some(ConversationAction::OpenTicket { subject }) = &message.action {
            self.open_ticket(&conversation, Some(subject), shutdown)
                .await?;
            return Ok(());
        }
        if message.author != Participant::Customer
            || message.action.is_some()
            || conversation.status != ConversationStatus::Open
        {
            return Ok(());
        }
        let before = (conversation.status, conversation.agent.clone());
        let Some(responder) = self.desk.wait_for_responder(shutdown).await else {
            return Err(StreamError::Dependency {
                what: "answer a message",
                source: Box::new(SupportError::Bus(StreamError::Closed)),
            });
        };
        let account = retry("read an account", shutdown, || {
            store.customer_account(&conversation.customer)
        })
        .await
        .map_err(dependency("read an account"))?;
        let history = retry("read a conversation's messages", shutdown, || {
            store.messages(&conversation.id, HISTORY)
        })
        .await
        .map_err(dependency("read a conversation's messages"))?;
        let previous: Option<Evidence> = history
            .iter()
            .rev()
            .filter(|m| m.author == Participant::Bot && m.id != reply_id(&message))
            .find_map(|m| serde_json::from_value(m.evidence.clone()?).ok());
        let hint = message
            .language
            .as_deref()
            .or(conversation.language.as_deref());
        let reply = responder
            .respond(Turn {
                text: &message.text,
                account: account.as_ref(),
                language_hint: hint,
                previous: previous.as_ref(),
            })
            .await
            .map_err(|error| StreamError::Dependency {
                what: "answer a message",
                source: Box::new(error),
            })?;
        if reply.evidence.decision.hands_off() {
            conversation.status = ConversationStatus::WaitingForAgent;
        }
        if let Some(language) = &reply.evidence.language {
            conversation.language = Some(language.clone());
        }
        let now = Utc::now();
        conversation.updated_at = now;
        let decision = serde_json::to_value(reply.evidence.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let bot = Message {
            id: reply_id(&message),
            conversation: conversation.id.clone(),
            author: Participant::Bot,
            author_id: BOT_ID.to_owned(),
            text: reply.text,
            language: Some(reply.evidence.reply_language.clone()),
            evidence: Some(serde_json::to_value(&reply.evidence).expect("evidence serialises")),
            at: now,
            action: None,
            sentiment: None,
        };
        self.keep(&conversation, &bot, shutdown).await?;
        self.push(&conversation, bot).await;
        self.announce_if_moved(&before, &conversation).await;
        self.desk
            .metrics()
            .reply_seconds
            .with_label_values(&[&decision])
            .observe(received.elapsed().as_secs_f64());
        // After the reply is out: triage must not delay what the customer waits for.
        if conversation.status == ConversationStatus::WaitingForAgent {
            self.open_ticket(&conversation, None, shutdown).await?;
        }
        Ok(())
    }

    /// Opens the conversation's ticket from what the customer said (a handoff, or their own
    /// `createTicket` with `subject`).
    async fn open_ticket(
        &self,
        conversation: &Conversation,
        subject: Option<&str>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let store = self.desk.store().clone();
        let history = retry("read a conversation's messages", shutdown, || {
            store.messages(&conversation.id, HISTORY)
        })
        .await
        .map_err(dependency("read a conversation's messages"))?;
        let tier = retry("read an account", shutdown, || {
            store.customer_account(&conversation.customer)
        })
        .await
        .map_err(dependency("read an account"))?
        .map(|account| account.tier)
        .unwrap_or_default();
        self.desk
            .tickets()
            .open(conversation, &history, subject, tier)
            .await
            .map_err(dependency("open a ticket"))?;
        Ok(())
    }

    async fn keep(
        &self,
        conversation: &Conversation,
        message: &Message,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let store = self.desk.store().clone();
        retry("keep a message", shutdown, || {
            store.add_messages(std::slice::from_ref(message))
        })
        .await
        .map_err(dependency("keep a message"))?;
        retry("update a conversation", shutdown, || {
            store.update_conversation(conversation)
        })
        .await
        .map_err(dependency("update a conversation"))?;
        Ok(())
    }

    /// Tells agents' queues when the conversation's status or agent is not what it was.
    async fn announce_if_moved(
        &self,
        before: &(ConversationStatus, Option<String>),
        conversation: &Conversation,
    ) {
        if before.0 == conversation.status && before.1 == conversation.agent {
            return;
        }
        if let Err(error) = self.desk.announce(conversation).await {
            // Queues re-read the store on the next change; a missed one is not lost.
            warn!(%error, conversation = %conversation.id, "failed to announce a queue change");
        }
    }

    async fn push(&self, conversation: &Conversation, message: Message) {
        let update = ChatUpdate {
            conversation: conversation.clone(),
            message,
        };
        if let Err(error) = self.desk.push(&update).await {
            // The message is kept: a client that missed the push reads it with
            // `conversation(id)`. Not worth stopping the processor for.
            warn!(%error, conversation = %conversation.id, "failed to push a chat message");
        }
    }
}

/// The id of the bot's reply to `message`.
fn reply_id(message: &Message) -> String {
    format!("{}.reply", message.id)
}

/// The conversation after `message`: an agent's first message claims it, a customer writing
/// into a resolved one reopens it; actions claim, transfer, resolve and rate. An action that
/// no longer fits the conversation (the API checked an older state) changes nothing.
fn move_on(conversation: &mut Conversation, message: &Message) {
    use ConversationStatus::{Open, Resolved, WaitingForAgent, WithAgent};
    let resolved = conversation.status == Resolved;
    match (&message.action, message.author) {
        (Some(ConversationAction::Claim), Participant::Agent)
            if !resolved
                && conversation
                    .agent
                    .as_ref()
                    .is_none_or(|agent| *agent == message.author_id) =>
        {
            conversation.status = WithAgent;
            conversation.agent = Some(message.author_id.clone());
        }
        (Some(ConversationAction::Transfer { to }), Participant::Agent) if !resolved => {
            conversation.status = WithAgent;
            conversation.agent = Some(to.clone());
        }
        (Some(ConversationAction::Resolve), Participant::Agent) => {
            conversation.status = Resolved;
        }
        (Some(ConversationAction::OpenTicket { .. }), Participant::Customer) => {
            if conversation.status != WithAgent {
                conversation.status = WaitingForAgent;
                conversation.agent = None;
                conversation.csat = None;
            }
        }
        (Some(ConversationAction::Rate { score }), Participant::Customer)
            if resolved && conversation.csat.is_none() && (1..=5).contains(score) =>
        {
            conversation.csat = Some(*score);
        }
        (Some(_), _) => {}
        (None, Participant::Agent) if matches!(conversation.status, Open | WaitingForAgent) => {
            conversation.status = WithAgent;
            conversation.agent = Some(message.author_id.clone());
        }
        (None, Participant::Customer) if resolved => {
            conversation.status = Open;
            conversation.agent = None;
            conversation.csat = None;
        }
        (None, _) => {}
    }
    if let Some(language) = &message.language
        && message.author == Participant::Customer
        && conversation.language.is_none()
    {
        conversation.language = Some(language.clone());
    }
    conversation.updated_at = conversation.updated_at.max(message.at);
}

fn dependency<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl Fn(E) -> StreamError {
    move |error| StreamError::Dependency {
        what,
        source: Box::new(error),
    }
}

#[async_trait]
impl Handler for SupportProcessor {
    type Event = MessageEvent;

    async fn handle(
        &mut self,
        batch: Vec<Decoded<MessageEvent>>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        // Conversations are independent: each one's messages are handled in order, and
        // up to `CONCURRENT_CONVERSATIONS` conversations at once, so one customer's answer
        // does not wait behind another's (their embeddings share a model batch). A failure
        // fails the batch, which is redelivered; handling a message twice is harmless (the
        // reply's id derives from the message's).
        let mut by_conversation: Vec<(String, Vec<Message>)> = Vec::new();
        for decoded in batch {
            let message = decoded.event.0;
            match by_conversation
                .iter_mut()
                .find(|(id, _)| *id == message.conversation)
            {
                Some((_, messages)) => messages.push(message),
                None => by_conversation.push((message.conversation.clone(), vec![message])),
            }
        }
        let this = &*self;
        futures::stream::iter(by_conversation)
            .map(|(_, messages)| async move {
                for message in messages {
                    this.handle_one(message, shutdown).await?;
                }
                Ok::<_, StreamError>(())
            })
            .buffer_unordered(CONCURRENT_CONVERSATIONS)
            .try_collect::<()>()
            .await
    }
}

/// Registers the support processor.
pub async fn register(registry: &mut Registry, desk: Arc<SupportDesk>) -> Result<(), StreamError> {
    registry
        .register(SUPPORT, SupportProcessor::new(desk))
        .await
}

/// Creates the topics the support desk uses.
pub async fn ensure_support_topics(
    log: &dyn finpulse_bus::EventLog,
    partitions: i32,
) -> Result<(), StreamError> {
    log.ensure_topic(MESSAGES_TOPIC, partitions).await?;
    log.ensure_topic(crate::tickets::TICKETS_TOPIC, partitions)
        .await?;
    log.ensure_topic(MESSAGES_DEAD_LETTER_TOPIC, partitions)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn conversation(status: ConversationStatus) -> Conversation {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        Conversation {
            id: "c1".into(),
            customer: "alice".into(),
            status,
            agent: None,
            language: None,
            csat: Some(4),
            created_at: at,
            updated_at: at,
        }
    }

    fn message(author: Participant, author_id: &str) -> Message {
        Message {
            id: "m1".into(),
            conversation: "c1".into(),
            author,
            author_id: author_id.into(),
            text: "hello".into(),
            language: Some("de".into()),
            evidence: None,
            at: Utc.timestamp_opt(1_700_000_060, 0).unwrap(),
            action: None,
            sentiment: None,
        }
    }

    #[test]
    fn an_agents_first_message_claims_and_a_customer_reopens() {
        let mut waiting = conversation(ConversationStatus::WaitingForAgent);
        move_on(&mut waiting, &message(Participant::Agent, "agent-7"));
        assert_eq!(waiting.status, ConversationStatus::WithAgent);
        assert_eq!(waiting.agent.as_deref(), Some("agent-7"));
        assert_eq!(
            waiting.language, None,
            "an agent's language is not the customer's"
        );
        let mut resolved = conversation(ConversationStatus::Resolved);
        move_on(&mut resolved, &message(Participant::Customer, "alice"));
        assert_eq!(resolved.status, ConversationStatus::Open);
        assert_eq!(resolved.csat, None);
        assert_eq!(resolved.language.as_deref(), Some("de"));
        assert_eq!(resolved.updated_at.timestamp(), 1_700_000_060);
    }

    fn action(author: Participant, author_id: &str, action: ConversationAction) -> Message {
        Message {
            action: Some(action),
            language: None,
            ..message(author, author_id)
        }
    }

    #[test]
    fn actions_move_a_conversation_only_when_they_still_fit() {
        use ConversationAction::*;
        let mut c = conversation(ConversationStatus::WaitingForAgent);
        c.csat = None;
        move_on(&mut c, &action(Participant::Agent, "a1", Claim));
        assert_eq!(
            (c.status, c.agent.as_deref()),
            (ConversationStatus::WithAgent, Some("a1"))
        );
        // Someone else's claim, or a customer's resolve, changes nothing.
        move_on(&mut c, &action(Participant::Agent, "a2", Claim));
        move_on(&mut c, &action(Participant::Customer, "alice", Resolve));
        assert_eq!(
            (c.status, c.agent.as_deref()),
            (ConversationStatus::WithAgent, Some("a1"))
        );
        move_on(
            &mut c,
            &action(Participant::Agent, "a1", Transfer { to: "a2".into() }),
        );
        assert_eq!(c.agent.as_deref(), Some("a2"));
        // Rated only once resolved, once, 1 to 5.
        move_on(
            &mut c,
            &action(Participant::Customer, "alice", Rate { score: 4 }),
        );
        assert_eq!(c.csat, None);
        move_on(&mut c, &action(Participant::Agent, "a2", Resolve));
        assert_eq!(c.status, ConversationStatus::Resolved);
        move_on(
            &mut c,
            &action(Participant::Customer, "alice", Rate { score: 9 }),
        );
        assert_eq!(c.csat, None);
        move_on(
            &mut c,
            &action(Participant::Customer, "alice", Rate { score: 5 }),
        );
        move_on(
            &mut c,
            &action(Participant::Customer, "alice", Rate { score: 1 }),
        );
        assert_eq!(c.csat, Some(5));
        assert_eq!(
            c.status,
            ConversationStatus::Resolved,
            "a rating does not reopen"
        );
    }
}
