//! The support desk's subscriptions: the agents' queue and a conversation's live chat.

use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use futures::future;
use futures::stream::{Stream, StreamExt};
use tracing::warn;

use finpulse_bus::fanout::FanOutItem;
use finpulse_support::events::{ChatUpdate, chat_channel, queue_channel};
use finpulse_support::{SupportDesk, Viewer};

use super::{ChatEvent, SupportConversation, desk, viewer};
use crate::error::ApiError;
use crate::policy::FieldPolicy;
use crate::{Need, Principal, Role};

/// Support subscriptions.
#[derive(Debug, Default)]
pub struct SupportSubscription;

/// How each field below may travel ([`crate::policy`]); every field must have an entry.
pub(crate) const POLICIES: &[FieldPolicy] = &[
    // One conversation, readable by its customer and agents only.
    FieldPolicy::per_user("chat"),
    // Agents only: each socket runs its own, guarded execution.
    FieldPolicy::per_user("supportQueue"),
];

#[Subscription]
impl SupportSubscription {
    /// The agents' queue: the conversations waiting for an agent, longest waiting first (at
    /// most 100), now and again whenever a conversation's status or agent changes. Needs the
    /// `agent` role.
    #[graphql(guard = "Need::role(Role::Agent)")]
    async fn support_queue(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<
        impl Stream<Item = async_graphql::Result<Vec<SupportConversation>>> + use<>,
    > {
        let desk = desk(ctx)?;
        let agent = ctx.data::<Principal>()?.require_user()?;
        desk.note_agent(agent).await.map_err(ApiError::from)?;
        crate::audit::record(
            ctx,
            "support.queue.follow",
            None,
            None,
            serde_json::json!({}),
        )
        .await?;
        // Subscribe before the first read, so no change falls between the two.
        let changes = desk
            .fanout()
            .try_subscribe(&queue_channel())
            .map_err(ApiError::from)?;
        let waiting = move |desk: Arc<SupportDesk>| async move {
            desk.waiting_for_agent(100)
                .await
                .map(|conversations| {
                    conversations
                        .into_iter()
                        .map(|conversation| SupportConversation {
                            conversation,
                            for_agent: true,
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| ApiError::from(e).into())
        };
        let first = waiting(desk.clone()).await?;
        // Every change (or gap) re-reads the queue from the store: nothing is lost to a lag.
        let updates = changes.then(move |_| waiting(desk.clone()));
        Ok(futures::stream::once(future::ready(Ok(first))).chain(updates))
    }

    /// Every message of a conversation from now on (the customer's, the bot's, agents'), each
    /// with the conversation as it stands. Read the history with `conversation(id)`.
    #[graphql(guard = "Need::customer_or_agent(\"support:read\")")]
    async fn chat(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ChatEvent>> + use<>> {
        let principal = ctx.data::<Principal>()?;
        let viewer = viewer(principal)?;
        let for_agent = matches!(viewer, Viewer::Agent(_));
        let desk = desk(ctx)?;
        let conversation = desk
            .conversation_for(viewer, &conversation_id)
            .await
            .map_err(ApiError::from)?;
        if for_agent {
            crate::audit::record(
                ctx,
                "support.chat.follow",
                Some(&conversation.customer),
                Some(&conversation.id),
                serde_json::json!({}),
            )
            .await?;
        }
        let pushed = desk
            .fanout()
            .try_subscribe(&chat_channel(&conversation_id))
            .map_err(ApiError::from)?;
        Ok(pushed.filter_map(move |item| {
            future::ready(match item {
                FanOutItem::Message(bytes) => match serde_json::from_slice::<ChatUpdate>(&bytes) {
                    Ok(update) => Some(Ok(ChatEvent { update, for_agent })),
                    Err(error) => {
                        warn!(%error, "skipping an undecodable chat message");
                        None
                    }
                },
                // Every message is kept: a client told it lagged reads the conversation.
                FanOutItem::Lagged(missed) => {
                    Some(Err(crate::error::lagged_error(missed, "messages")))
                }
            })
        }))
    }
}
