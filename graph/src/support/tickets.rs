//! The support desk's tickets in the API: customers open and read their own; agents (role
//! `agent`) read the queue by priority and follow every change live (`ticketUpdates`: opened,
//! answered, escalated by the SLA watcher, solved).

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures::future;
use futures::stream::{Stream, StreamExt};
use tracing::{instrument, warn};

use finpulse_bus::fanout::FanOutItem;
use finpulse_core::support::{
    CustomerTier, Sentiment, SlaStage, Ticket as StoredTicket, TicketChange, TicketPriority,
    TicketStatus,
};
use finpulse_support::SupportDesk;
use finpulse_support::tickets::{TicketEvent, tickets_channel};

use crate::error::{ApiError, ApiResult};
use crate::policy::FieldPolicy;
use crate::support::{SupportConversation, desk};
use crate::{Need, Principal, Role};

/// Most tickets one `tickets` field returns.
const MAX_TICKETS: i32 = 200;

/// A support ticket: a conversation that needed a person, triaged on arrival.
// Getters over the core ticket rather than a derive on it: the triage fields are agents' only,
// and their guard needs the caller's principal, which only this crate knows (`updated_at`,
// the store's write check, is not shown).
pub struct Ticket(StoredTicket);

#[Object]
impl Ticket {
    /// The id, the same as its conversation's.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The customer's user id.
    async fn customer(&self) -> &str {
        &self.0.customer
    }

    /// A short line.
    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// What the customer said.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The customer's language, when known.
    async fn language(&self) -> Option<&str> {
        self.0.language.as_deref()
    }

    /// The classifier's category (`card_fraud`), its best guess even when unsure.
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// The classifier's probability for the category (0 without a classifier). Agents' only
    /// (triage is internal): `FORBIDDEN` for the customer.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn category_confidence(&self) -> f32 {
        self.0.category_confidence
    }

    /// The category is too unsure to route on: a person should check it. Agents' only (triage
    /// is internal): `FORBIDDEN` for the customer.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn needs_triage(&self) -> bool {
        self.0.needs_triage
    }

    /// The tone of the customer's words, when a sentiment model was loaded. Agents' only
    /// (triage is internal): `FORBIDDEN` for the customer.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn sentiment(&self) -> Option<Sentiment> {
        self.0.sentiment
    }

    /// The customer's tier when it was opened. Agents' only (triage is internal): `FORBIDDEN`
    /// for the customer.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn tier(&self) -> CustomerTier {
        self.0.tier
    }

    /// How soon it must be worked.
    async fn priority(&self) -> TicketPriority {
        self.0.priority
    }

    /// Why it has that priority. Agents' only (triage is internal): `FORBIDDEN` for the
    /// customer.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn priority_reasons(&self) -> &[String] {
        &self.0.priority_reasons
    }

    /// Open or solved.
    async fn status(&self) -> TicketStatus {
        self.0.status
    }

    /// How far its SLA has run.
    async fn sla_stage(&self) -> SlaStage {
        self.0.sla_stage
    }

    /// When it was opened (or reopened).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When an agent must first answer.
    async fn first_response_due(&self) -> DateTime<Utc> {
        self.0.first_response_due
    }

    /// When an agent first answered.
    async fn first_response_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_at
    }

    /// When it must be solved.
    async fn resolution_due(&self) -> DateTime<Utc> {
        self.0.resolution_due
    }

    /// When it was solved.
    async fn solved_at(&self) -> Option<DateTime<Utc>> {
        self.0.solved_at
    }
}

/// What `ticketUpdates` delivers.
pub struct TicketUpdate(TicketEvent);

#[Object]
impl TicketUpdate {
    /// What happened.
    async fn change(&self) -> TicketChange {
        self.0.change
    }

    /// The ticket after it.
    async fn ticket(&self) -> Ticket {
        Ticket(self.0.ticket.clone())
    }
}

fn bounded(value: i32) -> Result<u32, ApiError> {
    if (1..=MAX_TICKETS).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ApiError::BadUserInput(format!(
            "first must be 1 to {MAX_TICKETS}"
        )))
    }
}

/// Ticket queries.
#[derive(Debug, Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// Tickets: for an agent, every ticket with `status`, most urgent first, then oldest; for
    /// a customer, their own, newest first.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer_or_agent(\"support:read\")")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "TicketStatus::Open")] status: TicketStatus,
        #[graphql(default = 50)] first: i32,
    ) -> ApiResult<Vec<Ticket>> {
        let principal = ctx.data::<Principal>()?;
        let user = principal.require_user()?;
        let first = bounded(first)?;
        let tickets = desk(ctx)?
            .tickets()
            .tickets_for(user, principal.has_role(Role::Agent), status, first)
            .await
            .map_err(ApiError::from)?;
        if principal.has_role(Role::Agent) {
            crate::audit::record(
                ctx,
                "support.tickets.read",
                None,
                None,
                serde_json::json!({ "status": format!("{status:?}"), "count": tickets.len() }),
            )
            .await?;
        }
        Ok(tickets.into_iter().map(Ticket).collect())
    }

    /// One ticket: the caller's own, or any for an agent; `NOT_FOUND` otherwise.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer_or_agent(\"support:read\")")]
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Ticket> {
        let principal = ctx.data::<Principal>()?;
        let user = principal.require_user()?;
        let desk = desk(ctx)?;
        let ticket = desk
            .tickets()
            .ticket_for(user, principal.has_role(Role::Agent), &id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no ticket `{}`", id.as_str())))?;
        if principal.has_role(Role::Agent) {
            crate::audit::record(
                ctx,
                "support.ticket.read",
                Some(&ticket.customer),
                Some(&ticket.id),
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(Ticket(ticket))
    }
}

/// Ticket mutations.
#[derive(Debug, Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Opens a ticket for the signed-in customer: a conversation straight to the agents'
    /// queue (no bot), `text` its first message. The ticket (category, sentiment, priority,
    /// SLA) appears on `ticket(id)` with the conversation's id once triaged; follow the
    /// conversation on `chat`.
    #[instrument(skip_all, err(Debug))]
    #[graphql(guard = "Need::customer(\"support:write\")")]
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        subject: String,
        text: String,
        language: Option<String>,
    ) -> ApiResult<SupportConversation> {
        let user = ctx.data::<Principal>()?.require_user()?.to_owned();
        let (conversation, _) = desk(ctx)?
            .create_ticket(&user, &subject, &text, language.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(SupportConversation::new(conversation, false))
    }
}

/// Ticket subscriptions.
#[derive(Debug, Default)]
pub struct TicketSubscription;

/// How each field below may travel ([`crate::policy`]); every field must have an entry.
pub(crate) const POLICIES: &[FieldPolicy] = &[
    // Agents' ticket feed: every change matters (an escalation is not superseded).
    FieldPolicy::per_user("ticketUpdates"),
];

#[Subscription]
impl TicketSubscription {
    /// Every ticket change from now on: opened, first answered, escalated by the SLA
    /// watcher, solved. Read the queue with `tickets`. Needs the `agent` role.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn ticket_updates(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TicketUpdate>> + use<>>
    {
        let desk: Arc<SupportDesk> = desk(ctx)?;
        crate::audit::record(
            ctx,
            "support.tickets.follow",
            None,
            None,
            serde_json::json!({}),
        )
        .await?;
        let pushed = desk
            .tickets()
            .fanout()
            .try_subscribe(&tickets_channel())
            .map_err(ApiError::from)?;
        Ok(pushed.filter_map(|item| {
            future::ready(match item {
                FanOutItem::Message(bytes) => match serde_json::from_slice::<TicketEvent>(&bytes) {
                    Ok(event) => Some(Ok(TicketUpdate(event))),
                    Err(error) => {
                        warn!(%error, "skipping an undecodable ticket event");
                        None
                    }
                },
                // Every ticket is kept: a client told it lagged reads `tickets` again.
                FanOutItem::Lagged(missed) => {
                    Some(Err(crate::error::lagged_error(missed, "ticket updates")))
                }
            })
        }))
    }
}
