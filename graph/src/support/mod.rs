//! The support desk's API: sending messages, reading conversations, the live chat.
//!
//! A conversation is its customer's and the agents': a customer reads only their own, an agent
//! (role `agent`) any. To everyone else it does not exist (`NOT_FOUND`, whether or not the id
//! is taken). The bot's evidence (intent, confidence, the entries it retrieved) is for agents:
//! a customer's view of a bot message has no evidence. The live queue and chat are in
//! [`live`], the knowledge base in [`faq`], tickets in [`tickets`]; each module's subscription
//! fields declare their fan-out policies beside them.

pub mod faq;
pub(crate) mod live;
pub mod tickets;
pub use live::SupportSubscription;

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use tracing::instrument;

use finpulse_core::support::{
    Conversation as StoredConversation, ConversationAction, ConversationStatus, Message,
    Participant, Sentiment,
};
use finpulse_support::events::ChatUpdate;
use finpulse_support::{SupportDesk, Viewer};

use crate::error::{ApiError, ApiResult};
use crate::{GraphContext, Need, Principal, Role};

/// Most messages one `messages` field returns.
const MAX_MESSAGES: i32 = 500;
/// Most conversations one `conversations` field returns.
const MAX_CONVERSATIONS: i32 = 100;

/// The desk of this server, or `UNAVAILABLE`.
pub(crate) fn desk(ctx: &Context<'_>) -> ApiResult<Arc<SupportDesk>> {
    Ok(ctx.data::<GraphContext>()?.support.clone().ok_or_else(|| {
        ApiError::Unavailable("the support desk is not running on this server".into())
    })?)
}

/// Who is asking, as the desk sees it: an agent when the token has the role.
fn viewer(principal: &Principal) -> Result<Viewer<'_>, ApiError> {
    let user = principal.require_user()?;
    Ok(if principal.has_role(Role::Agent) {
        Viewer::Agent(user)
    } else {
        Viewer::Customer(user)
    })
}

fn bounded(value: i32, max: i32, what: &str) -> Result<u32, ApiError> {
    if (1..=max).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ApiError::BadUserInput(format!("{what} must be 1 to {max}")))
    }
}

/// One message of a conversation.
// Getters over the core message rather than a derive: a customer and an agent see different
// fields (the bot's evidence and the sentiment are agents' only).
pub struct ChatMessage {
    message: Message,
    /// True for agents: the bot's evidence is theirs to see.
    for_agent: bool,
}

#[Object]
impl ChatMessage {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.message.id.clone())
    }

    /// The conversation it belongs to.
    async fn conversation_id(&self) -> ID {
        ID(self.message.conversation.clone())
    }

    /// Who wrote it.
    async fn author(&self) -> Participant {
        self.message.author
    }

    /// The writer's user id (`bot` for the bot).
    async fn author_id(&self) -> &str {
        &self.message.author_id
    }

    /// What it says.
    async fn text(&self) -> &str {
        &self.message.text
    }

    /// Its language (ISO 639-1), when known.
    async fn language(&self) -> Option<&str> {
        self.message.language.as_deref()
    }

    /// When it was written.
    async fn at(&self) -> DateTime<Utc> {
        self.message.at
    }

    /// What the message did to the conversation, when it is an action rather than words
    /// (its text then says it in English, for logs: clients show their own wording).
    async fn action(&self) -> Option<ChatAction> {
        self.message.action.as_ref().map(ChatAction::from)
    }

    /// For agents, on the customer's messages: the tone the sentiment model read (null
    /// before the model is loaded, and for customers). A negative one raises the priority of
    /// the conversation's open ticket.
    async fn sentiment(&self) -> Option<Sentiment> {
        self.for_agent.then_some(self.message.sentiment).flatten()
    }

    /// For agents, on the bot's messages: what it found and decided (decision, detected
    /// language, intent, confidence, threshold, the entries retrieved). Null for customers.
    async fn evidence(&self) -> Option<Json<serde_json::Value>> {
        self.for_agent
            .then(|| self.message.evidence.clone().map(Json))
            .flatten()
    }
}

/// What an action message did (the kind of [`ConversationAction`], without its details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ChatAction {
    /// An agent took the conversation.
    Claim,
    /// An agent handed it to another (the text names them).
    Transfer,
    /// An agent closed it.
    Resolve,
    /// The customer opened it as a ticket (the text is their description).
    OpenTicket,
    /// The customer rated it (the conversation's `csat` holds the score).
    Rate,
}

impl From<&ConversationAction> for ChatAction {
    fn from(action: &ConversationAction) -> Self {
        match action {
            ConversationAction::Claim => Self::Claim,
            ConversationAction::Transfer { .. } => Self::Transfer,
            ConversationAction::Resolve => Self::Resolve,
            ConversationAction::OpenTicket { .. } => Self::OpenTicket,
            ConversationAction::Rate { .. } => Self::Rate,
        }
    }
}

/// A support conversation.
// Getters over the core conversation, for the same reason as `ChatMessage`: its messages are
// shown as the caller may see them.
pub struct SupportConversation {
    conversation: StoredConversation,
    for_agent: bool,
}

impl SupportConversation {
    /// `conversation` as `for_agent` (an agent) or its customer sees it.
    pub(crate) fn new(conversation: StoredConversation, for_agent: bool) -> Self {
        Self {
            conversation,
            for_agent,
        }
    }
}

#[Object(name = "Conversation")]
impl SupportConversation {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.conversation.id.clone())
    }

    /// The customer's user id.
    async fn customer(&self) -> &str {
        &self.conversation.customer
    }

    /// Where it stands: the bot answering, waiting for an agent, with one, resolved.
    async fn status(&self) -> ConversationStatus {
        self.conversation.status
    }

    /// The agent who claimed it, while one has.
    async fn agent(&self) -> Option<&str> {
        self.conversation.agent.as_deref()
    }

    /// The customer's language as last detected.
    async fn language(&self) -> Option<&str> {
        self.conversation.language.as_deref()
    }

    /// The customer's rating after resolution, 1 to 5.
    async fn csat(&self) -> Option<u8> {
        self.conversation.csat
    }

    /// When it was opened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.conversation.created_at
    }

    /// When anything last happened in it.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.conversation.updated_at
    }

    /// Its `last` most recent messages (1 to 500), oldest first.
    #[graphql(complexity = "(last.max(0) as usize) * child_complexity")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] last: i32,
    ) -> ApiResult<Vec<ChatMessage>> {
        let last = bounded(last, MAX_MESSAGES, "last")?;
        let messages = desk(ctx)?
            .messages(&self.conversation.id, last)
            .await
            .map_err(ApiError::from)?;
        Ok(messages
            .into_iter()
            .map(|message| ChatMessage {
                message,
                for_agent: self.for_agent,
            })
            .collect())
    }
}

/// What the `chat` subscription delivers: a message, with the conversation as it stands
/// after it.
pub struct ChatEvent {
    update: ChatUpdate,
    for_agent: bool,
}

#[Object]
impl ChatEvent {
    /// The message.
    async fn message(&self) -> ChatMessage {
        ChatMessage {
            message: self.update.message.clone(),
            for_agent: self.for_agent,
        }
    }

    /// The conversation after it (a handoff shows here as `WAITING_FOR_AGENT`).
    async fn conversation(&self) -> SupportConversation {
        SupportConversation {
            conversation: self.update.conversation.clone(),
            for_agent: self.for_agent,
        }
    }
}

/// How customers rated resolved conversations (every one, counted by the store).
#[derive(Debug, Clone, SimpleObject)]
pub struct CsatSummary {
    /// Resolved conversations counted.
    pub resolved: i32,
    /// How many of them were rated.
    pub ratings: i32,
    /// The mean rating, 1 to 5, when any.
    pub average: Option<f64>,
    /// How many ratings of 1, 2, 3, 4 and 5.
    pub counts: Vec<i32>,
}

/// Support queries.
#[derive(Debug, Default)]
pub struct SupportQuery;

#[Object]
impl SupportQuery {
    /// The signed-in customer's conversations, most recently active first (`first`: 1 to 100).
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer(\"support:read\")")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> ApiResult<Vec<SupportConversation>> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let first = bounded(first, MAX_CONVERSATIONS, "first")?;
        let conversations = desk(ctx)?
            .conversations_of(&user, first)
            .await
            .map_err(ApiError::from)?;
        Ok(conversations
            .into_iter()
            .map(|conversation| SupportConversation {
                conversation,
                for_agent: false,
            })
            .collect())
    }

    /// The customers' ratings of resolved conversations (CSAT). Needs the `agent` role.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn csat_summary(&self, ctx: &Context<'_>) -> ApiResult<CsatSummary> {
        let counts = desk(ctx)?.csat_counts().await.map_err(ApiError::from)?;
        let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(CsatSummary {
            resolved: clamp(counts.resolved),
            ratings: clamp(counts.ratings()),
            average: counts.average(),
            counts: counts.by_score.iter().map(|n| clamp(*n)).collect(),
        })
    }

    /// The agents a conversation may be transferred to (everyone who has worked the desk as
    /// an agent, and `support.agents`), by id. Needs the `agent` role.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn support_agents(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        Ok(desk(ctx)?.agents().await.map_err(ApiError::from)?)
    }

    /// One conversation: the caller's own, or any for an agent.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer_or_agent(\"support:read\")")]
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<SupportConversation> {
        let principal = ctx.data::<Principal>()?;
        let viewer = viewer(principal)?;
        let conversation = desk(ctx)?
            .conversation_for(viewer, &id)
            .await
            .map_err(ApiError::from)?;
        if matches!(viewer, Viewer::Agent(_)) {
            crate::audit::record(
                ctx,
                "support.conversation.read",
                Some(&conversation.customer),
                Some(&conversation.id),
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(SupportConversation {
            conversation,
            for_agent: matches!(viewer, Viewer::Agent(_)),
        })
    }
}

/// Support mutations.
#[derive(Debug, Default)]
pub struct SupportMutation;

#[Object]
impl SupportMutation {
    /// Opens a conversation for the signed-in customer (`language`: the client's, such as the
    /// browser's). Subscribe to `chat` with its id, then send: no reply can be missed.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer(\"support:write\")")]
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        language: Option<String>,
    ) -> ApiResult<SupportConversation> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let conversation = desk(ctx)?
            .open(&user, language.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(SupportConversation {
            conversation,
            for_agent: false,
        })
    }

    /// Sends a message. A customer without `conversationId` opens a new conversation
    /// (`language`: the client's language, such as the browser's, for messages too short to
    /// tell); an agent names the conversation, and their first message claims it. The reply
    /// arrives on the `chat` subscription.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer_or_agent(\"support:write\")")]
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: Option<ID>,
        text: String,
        language: Option<String>,
    ) -> ApiResult<ChatMessage> {
        let principal = ctx.data::<Principal>()?;
        let viewer = viewer(principal)?;
        let (conversation, message) = desk(ctx)?
            .send(
                viewer,
                conversation_id.as_ref().map(|id| id.as_str()),
                &text,
                language.as_deref(),
            )
            .await
            .map_err(ApiError::from)?;
        if matches!(viewer, Viewer::Agent(_)) {
            crate::audit::record(
                ctx,
                "support.message.send",
                Some(&conversation.customer),
                Some(&conversation.id),
                serde_json::json!({ "message": message.id }),
            )
            .await?;
        }
        Ok(ChatMessage {
            message,
            for_agent: matches!(viewer, Viewer::Agent(_)),
        })
    }

    /// Takes a conversation from the queue (an agent's first message does too). Needs the
    /// `agent` role.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn claim_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ChatMessage> {
        act(ctx, &id, ConversationAction::Claim).await
    }

    /// Hands a conversation to agent `to`, one of `supportAgents` (anyone else is
    /// `BAD_USER_INPUT`). Needs the `agent` role.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn transfer_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        to: String,
    ) -> ApiResult<ChatMessage> {
        act(ctx, &id, ConversationAction::Transfer { to }).await
    }

    /// Closes a conversation; the customer may then rate it. Needs the `agent` role.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn resolve_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ChatMessage> {
        act(ctx, &id, ConversationAction::Resolve).await
    }

    /// The customer rates a resolved conversation once, 1 to 5 (CSAT).
    #[graphql(guard = "Need::customer(\"support:write\")")]
    async fn rate_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        score: i32,
    ) -> ApiResult<ChatMessage> {
        let score = u8::try_from(score)
            .ok()
            .filter(|score| (1..=5).contains(score))
            .ok_or_else(|| ApiError::BadUserInput("a rating is 1 to 5".into()))?;
        act(ctx, &id, ConversationAction::Rate { score }).await
    }
}

/// Appends `action` on conversation `id` as the caller.
async fn act(ctx: &Context<'_>, id: &str, action: ConversationAction) -> ApiResult<ChatMessage> {
    let principal = ctx.data::<Principal>()?;
    // A customer acts on their own conversation even with the agent role too.
    let user = principal.require_user()?;
    let viewer = match (&action, principal.has_role(Role::Agent)) {
        (ConversationAction::Rate { .. }, _) | (_, false) => Viewer::Customer(user),
        (_, true) => Viewer::Agent(user),
    };
    let desk = desk(ctx)?;
    let (verb, detail) = match &action {
        ConversationAction::Claim => ("claim", serde_json::json!({})),
        ConversationAction::Transfer { to } => ("transfer", serde_json::json!({ "to": to })),
        ConversationAction::Resolve => ("resolve", serde_json::json!({})),
        ConversationAction::Rate { score } => ("rate", serde_json::json!({ "score": score })),
        ConversationAction::OpenTicket { .. } => ("open_ticket", serde_json::json!({})),
    };
    let (conversation, message) = desk.act(viewer, id, action).await.map_err(ApiError::from)?;
    if matches!(viewer, Viewer::Agent(_)) {
        crate::audit::record(
            ctx,
            &format!("support.conversation.{verb}"),
            Some(&conversation.customer),
            Some(id),
            detail,
        )
        .await?;
    }
    Ok(ChatMessage {
        message,
        for_agent: matches!(viewer, Viewer::Agent(_)),
    })
}
