//! The support desk as a service: who may read a conversation, sending messages onto the
//! log, and the responder over the current knowledge base (rebuilt live when the FAQ changes).
//!
//! The API and the processor share one [`SupportDesk`]. The API checks and appends; the
//! processor keeps, answers and pushes (`processor`). A conversation is only ever readable by
//! its customer and by agents; to anyone else it does not exist (`NOT_FOUND`, so ids cannot be
//! probed).

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use finpulse_bus::envelope::Envelope;
use finpulse_bus::{EventLog, FanOut};
use finpulse_core::support::{
    Card, CardStatus, Conversation, ConversationAction, ConversationStatus, CustomerAccount,
    CustomerTier, Message, Participant,
};
use finpulse_store::SupportData;
use parking_lot::RwLock;
use prometheus::{HistogramOpts, HistogramVec, Registry};
use tokio_util::sync::CancellationToken;

use crate::SupportError;
use crate::events::{
    ChatUpdate, MESSAGES_TOPIC, MessageEvent, chat_channel, queue_channel, validate_id,
    validate_text,
};
use crate::responder::{Responder, ResponderConfig};
use crate::retrieval::DenseModel;
use crate::tickets::Tickets;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// A signed-in customer: their own conversations only.
    Customer(&'a str),
    /// A signed-in user with the `agent` role: every conversation.
    Agent(&'a str),
}

impl Viewer<'_> {
    fn may_read(&self, conversation: &Conversation) -> bool {
        match self {
            Self::Customer(user) => conversation.customer == *user,
            Self::Agent(_) => true,
        }
    }
}

/// The desk's metrics.
#[derive(Debug, Clone)]
pub struct SupportMetrics {
    /// `finpulse_support_reply_seconds{decision}`: a customer's message kept to the bot's reply
    /// pushed, by what the bot decided.
    pub reply_seconds: HistogramVec,
}

impl SupportMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self::unregistered();
        registry.register(Box::new(metrics.reply_seconds.clone()))?;
        Ok(metrics)
    }

    /// The metrics, counted but rendered nowhere (tools and tests).
    pub fn unregistered() -> Self {
        Self {
            reply_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "finpulse_support_reply_seconds",
                    "Customer message kept to the bot's reply pushed",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
                ]),
                &["decision"],
            )
            .expect("the metric's definition is valid"),
        }
    }
}

/// The support desk.
pub struct SupportDesk {
    store: Arc<dyn SupportData>,
    log: Arc<dyn EventLog>,
    fanout: Arc<dyn FanOut>,
    models: Vec<DenseModel>,
    config: ResponderConfig,
    responder: RwLock<Option<Arc<Responder>>>,
    ready: tokio::sync::Notify,
    /// One rebuild at a time: two admins editing at once get two rebuilds in turn, the
    /// second seeing both edits.
    reindexing: tokio::sync::Mutex<()>,
    metrics: SupportMetrics,
    tickets: Arc<Tickets>,
    /// Agents this process has recorded already, so working the desk costs one write per
    /// agent and process, not one per request. Bounded: past the cap it starts afresh.
    agents_recorded: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// Most agents [`SupportDesk`] remembers having recorded before it forgets them all.
const RECORDED_AGENTS_CAP: usize = 10_000;

impl std::fmt::Debug for SupportDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportDesk")
            .field("responder", &self.responder.read().is_some())
            .finish()
    }
}

impl SupportDesk {
    /// A desk over `store`, appending to `log`, pushing on `fanout`, retrieving with
    /// `models` (none: lexical only). No responder until [`SupportDesk::reindex`].
    pub fn new(
        store: Arc<dyn SupportData>,
        log: Arc<dyn EventLog>,
        fanout: Arc<dyn FanOut>,
        models: Vec<DenseModel>,
        config: ResponderConfig,
        metrics: SupportMetrics,
        tickets: Arc<Tickets>,
    ) -> Self {
        Self {
            store,
            log,
            fanout,
            models,
            config,
            responder: RwLock::new(None),
            ready: tokio::sync::Notify::new(),
            reindexing: tokio::sync::Mutex::new(()),
            metrics,
            tickets,
            agents_recorded: parking_lot::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Records that `user` works the desk as an agent: conversations may then be transferred
    /// to them. Called whenever an agent reads or changes a conversation or the queue, and at
    /// start-up for `support.agents`.
    pub async fn note_agent(&self, user: &str) -> Result<(), SupportError> {
        if self.agents_recorded.lock().contains(user) {
            return Ok(());
        }
        validate_id("agent", user).map_err(SupportError::InvalidInput)?;
        self.store.record_agent(user, Utc::now()).await?;
        let mut recorded = self.agents_recorded.lock();
        if recorded.len() >= RECORDED_AGENTS_CAP {
            recorded.clear();
        }
        recorded.insert(user.to_owned());
        Ok(())
    }

    /// The agents conversations may be transferred to, by id.
    pub async fn agents(&self) -> Result<Vec<String>, SupportError> {
        self.store.agents(1_000).await.map_err(SupportError::from)
    }

    /// The tickets.
    pub fn tickets(&self) -> &Arc<Tickets> {
        &self.tickets
    }

    /// The embedding models retrieval uses, the primary first.
    pub fn models(&self) -> &[DenseModel] {
        &self.models
    }

    /// The store, for this crate's processors only: the API reaches the desk's data through
    /// the desk's methods, which keep its rules (who may read what, filters in SQL).
    pub(crate) fn store(&self) -> &Arc<dyn SupportData> {
        &self.store
    }

    /// The `last` most recent messages of a conversation, oldest first. The caller has already
    /// been allowed to read the conversation.
    pub async fn messages(
        &self,
        conversation: &str,
        last: u32,
    ) -> Result<Vec<finpulse_core::support::Message>, SupportError> {
        Ok(self.store.messages(conversation, last).await?)
    }

    /// A customer's conversations, most recently active first; at most `first`.
    pub async fn conversations_of(
        &self,
        customer: &str,
        first: u32,
    ) -> Result<Vec<Conversation>, SupportError> {
        Ok(self.store.conversations_of(customer, first).await?)
    }

    /// The agents' queue: conversations waiting for an agent, longest waiting first; at most
    /// `first`.
    pub async fn waiting_for_agent(&self, first: u32) -> Result<Vec<Conversation>, SupportError> {
        Ok(self
            .store
            .conversations_in(ConversationStatus::WaitingForAgent, first)
            .await?)
    }

    /// How every resolved conversation was rated (CSAT).
    pub async fn csat_counts(&self) -> Result<finpulse_core::support::CsatCounts, SupportError> {
        self.store.csat_counts().await.map_err(SupportError::from)
    }

    /// The fan-out, for subscriptions.
    pub fn fanout(&self) -> &Arc<dyn FanOut> {
        &self.fanout
    }

    /// The metrics.
    pub fn metrics(&self) -> &SupportMetrics {
        &self.metrics
    }

    /// The responder over the knowledge base as last indexed.
    pub fn responder(&self) -> Option<Arc<Responder>> {
        self.responder.read().clone()
    }

    /// The responder, waiting for the first index; `None` on shutdown.
    pub async fn wait_for_responder(&self, shutdown: &CancellationToken) -> Option<Arc<Responder>> {
        loop {
            let notified = self.ready.notified();
            if let Some(responder) = self.responder() {
                return Some(responder);
            }
            tokio::select! {
                () = notified => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// Stores the shipped FAQ when the store has none, and the demo customers' account facts;
    /// returns how many FAQ entries it stored.
    pub async fn seed_demo(&self, customers: &[&str]) -> Result<usize, SupportError> {
        let accounts: Vec<CustomerAccount> = customers
            .iter()
            .enumerate()
            .map(|(n, customer)| demo_account(customer, n))
            .collect();
        self.store.upsert_customer_accounts(&accounts).await?;
        if !self.store.faq_entries().await?.is_empty() {
            return Ok(0);
        }
        let entries = crate::faq::demo();
        self.store.upsert_faq_entries(&entries).await?;
        Ok(entries.len())
    }

    /// Rebuilds the responder from the FAQ as stored now and swaps it in; messages being
    /// answered meanwhile finish on the old one.
    pub async fn reindex(&self) -> Result<Arc<Responder>, SupportError> {
        let _one_at_a_time = self.reindexing.lock().await;
        let entries = self.store.faq_entries().await?;
        let responder =
            Arc::new(Responder::build(entries, self.models.clone(), self.config.clone()).await?);
        *self.responder.write() = Some(responder.clone());
        self.ready.notify_waiters();
        Ok(responder)
    }

    /// The conversation `id`, when `viewer` may read it; `NotFound` otherwise.
    pub async fn conversation_for(
        &self,
        viewer: Viewer<'_>,
        id: &str,
    ) -> Result<Conversation, SupportError> {
        validate_id("conversation", id).map_err(SupportError::InvalidInput)?;
        if let Viewer::Agent(agent) = viewer {
            self.note_agent(agent).await?;
        }
        self.store
            .conversation(id)
            .await?
            .filter(|conversation| viewer.may_read(conversation))
            .ok_or_else(|| SupportError::NotFound(format!("no conversation `{id}`")))
    }

    /// Opens a conversation for `customer`, in `language` when the client knows it.
    pub async fn open(
        &self,
        customer: &str,
        language: Option<&str>,
    ) -> Result<Conversation, SupportError> {
        let language = match language {
            Some(code) => Some(language_arg(code)?),
            None => None,
        };
        let now = Utc::now();
        let conversation = Conversation {
            id: uuid::Uuid::now_v7().to_string(),
            customer: customer.to_owned(),
            status: ConversationStatus::Open,
            agent: None,
            language,
            csat: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_conversation(&conversation).await?;
        Ok(conversation)
    }

    /// Checks a message and appends it to the log; the processor keeps it, answers a
    /// customer's, and pushes both. A customer without a `conversation` opens one (in
    /// `language`, a client's hint); an agent must name one.
    pub async fn send(
        &self,
        viewer: Viewer<'_>,
        conversation: Option<&str>,
        text: &str,
        language: Option<&str>,
    ) -> Result<(Conversation, Message), SupportError> {
        validate_text(text).map_err(SupportError::InvalidInput)?;
        let language = match language {
            Some(code) => Some(language_arg(code)?),
            None => None,
        };
        let conversation = match (conversation, viewer) {
            (Some(id), _) => self.conversation_for(viewer, id).await?,
            (None, Viewer::Customer(customer)) => self.open(customer, language.as_deref()).await?,
            (None, Viewer::Agent(_)) => {
                return Err(SupportError::InvalidInput(
                    "an agent's message must name its conversation".into(),
                ));
            }
        };
        let message = self
            .append(&conversation, viewer, text.to_owned(), language, None)
            .await?;
        Ok((conversation, message))
    }

    /// Opens a ticket for `customer`: a new conversation (in `language`, a client's hint)
    /// straight to the agents' queue, with `text` as the customer's first message and
    /// `subject` as the ticket's. The processor triages it and opens the ticket.
    pub async fn create_ticket(
        &self,
        customer: &str,
        subject: &str,
        text: &str,
        language: Option<&str>,
    ) -> Result<(Conversation, Message), SupportError> {
        let subject = subject.trim();
        if subject.is_empty()
            || subject.chars().count() > 120
            || subject.chars().any(char::is_control)
        {
            return Err(SupportError::InvalidInput(
                "a subject is 1 to 120 characters on one line".into(),
            ));
        }
        validate_text(text).map_err(SupportError::InvalidInput)?;
        let language = match language {
            Some(code) => Some(language_arg(code)?),
            None => None,
        };
        let mut conversation = self.open(customer, language.as_deref()).await?;
        let message = self
            .append(
                &conversation,
                Viewer::Customer(customer),
                text.to_owned(),
                language,
                Some(ConversationAction::OpenTicket {
                    subject: subject.to_owned(),
                }),
            )
            .await?;
        // What the processor makes of it (it is first in its conversation's order, so
        // nothing comes between): the caller sees where it is headed, not the instant before.
        conversation.status = ConversationStatus::WaitingForAgent;
        Ok((conversation, message))
    }

    /// Checks a change to conversation `id` by `viewer` against its state now and appends it
    /// to the log in the conversation's order (the processor applies it, and re-checks it
    /// against the state it finds then). Agents claim, transfer and resolve; the customer
    /// rates a resolved conversation once. Returns the conversation as checked (like
    /// [`SupportDesk::send`]) and the action's message.
    pub async fn act(
        &self,
        viewer: Viewer<'_>,
        id: &str,
        action: ConversationAction,
    ) -> Result<(Conversation, Message), SupportError> {
        let conversation = self.conversation_for(viewer, id).await?;
        let invalid = |message: &str| Err(SupportError::InvalidInput(message.to_owned()));
        let text = match (&action, viewer) {
            (ConversationAction::Rate { .. }, Viewer::Agent(_)) => {
                return Err(SupportError::Forbidden(
                    "only the conversation's customer rates it".into(),
                ));
            }
            (ConversationAction::Rate { score }, Viewer::Customer(_)) => {
                if !(1..=5).contains(score) {
                    return invalid("a rating is 1 to 5");
                }
                if conversation.status != ConversationStatus::Resolved {
                    return invalid("a conversation is rated once it is resolved");
                }
                if conversation.csat.is_some() {
                    return invalid("this conversation is rated already");
                }
                format!("rated the conversation {score} of 5")
            }
            (ConversationAction::OpenTicket { .. }, _) => {
                return invalid("a ticket is opened with createTicket");
            }
            (_, Viewer::Customer(_)) => {
                return Err(SupportError::Forbidden(
                    "only agents claim, transfer and resolve conversations".into(),
                ));
            }
            _ if conversation.status == ConversationStatus::Resolved => {
                return invalid("this conversation is resolved");
            }
            (ConversationAction::Claim, Viewer::Agent(agent)) => match &conversation.agent {
                Some(other) if other != agent => {
                    return invalid(&format!(
                        "`{other}` has this conversation; they can transfer it"
                    ));
                }
                _ => "joined the conversation".to_owned(),
            },
            (ConversationAction::Transfer { to }, Viewer::Agent(_)) => {
                validate_id("agent", to).map_err(SupportError::InvalidInput)?;
                // Only to someone who works the desk: a customer's id (or a typo) would hand
                // the conversation, and the customer's account facts, to nobody or to them.
                if !self.store.is_agent(to).await? {
                    return invalid(&format!(
                        "`{to}` is not a support agent (agents are known once they have worked \
                         the desk, or are listed in support.agents)"
                    ));
                }
                format!("transferred the conversation to {to}")
            }
            (ConversationAction::Resolve, Viewer::Agent(_)) => {
                "resolved the conversation".to_owned()
            }
        };
        let message = self
            .append(&conversation, viewer, text, None, Some(action))
            .await?;
        Ok((conversation, message))
    }

    /// Appends a message by `viewer` to `conversation` on the log.
    async fn append(
        &self,
        conversation: &Conversation,
        viewer: Viewer<'_>,
        text: String,
        language: Option<String>,
        action: Option<ConversationAction>,
    ) -> Result<Message, SupportError> {
        let (author, author_id) = match viewer {
            Viewer::Customer(user) => (Participant::Customer, user),
            Viewer::Agent(user) => (Participant::Agent, user),
        };
        let message = Message {
            id: uuid::Uuid::now_v7().to_string(),
            conversation: conversation.id.clone(),
            author,
            author_id: author_id.to_owned(),
            text,
            language,
            evidence: None,
            at: Utc::now(),
            action,
            // Read by the support processor, where the models are.
            sentiment: None,
        };
        let event = MessageEvent(message);
        let bytes = Envelope::wrap(&event)
            .and_then(|envelope| envelope.to_bytes())
            .map_err(|e| SupportError::InvalidInput(e.to_string()))?;
        self.log
            .append(MESSAGES_TOPIC, &conversation.id, Bytes::from(bytes))
            .await?;
        Ok(event.0)
    }

    /// Tells agents' queues that `conversation` changed status or agent.
    pub async fn announce(&self, conversation: &Conversation) -> Result<(), SupportError> {
        let bytes = serde_json::to_vec(conversation).expect("conversations serialise");
        self.fanout
            .publish(&queue_channel(), Bytes::from(bytes))
            .await
            .map_err(SupportError::from)
    }

    /// Pushes a kept message to the conversation's channel.
    pub async fn push(&self, update: &ChatUpdate) -> Result<(), SupportError> {
        let bytes = serde_json::to_vec(update).expect("chat updates serialise");
        self.fanout
            .publish(&chat_channel(&update.conversation.id), Bytes::from(bytes))
            .await
            .map_err(SupportError::from)
    }
}

/// A language code as clients send it (`de`, `de-DE`): its primary subtag, lowercased.
fn language_arg(code: &str) -> Result<String, SupportError> {
    let primary = code.split(['-', '_']).next().unwrap_or_default();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(primary.to_ascii_lowercase())
    } else {
        Err(SupportError::InvalidInput(format!(
            "language must be a language tag such as `en` or `de-DE`, not `{}`",
            code.chars().take(16).collect::<String>()
        )))
    }
}

/// A demo customer's account facts: one card, its status varying across customers so the
/// demo shows a frozen and a blocked card as well as active ones.
fn demo_account(customer: &str, n: usize) -> CustomerAccount {
    const NAMES: [&str; 6] = [
        "Alex Morgan",
        "Lena Schneider",
        "Camille Durand",
        "Lucía García",
        "Sam Taylor",
        "Jonas Weber",
    ];
    const STATUSES: [CardStatus; 4] = [
        CardStatus::Active,
        CardStatus::Frozen,
        CardStatus::Active,
        CardStatus::Blocked,
    ];
    CustomerAccount {
        customer: customer.to_owned(),
        name: NAMES[n % NAMES.len()].to_owned(),
        tier: if n % 3 == 2 {
            CustomerTier::Premium
        } else {
            CustomerTier::Standard
        },
        cards: vec![Card {
            id: format!("card-{customer}"),
            last4: format!("{:04}", (n * 1_217 + 4_242) % 10_000),
            status: STATUSES[n % STATUSES.len()],
        }],
    }
}
