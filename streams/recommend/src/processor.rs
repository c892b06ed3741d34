//! The recommend processor: interactions in, each customer's fresh list out, at once.
//!
//! Per batch from `user.interactions` (consumer group `recommend`): keep the interactions in
//! the store (retried while the store is away, since committing past them would lose them),
//! fold each into its customer's in-memory state (loaded from the store the first time the
//! customer is seen here, which already holds the batch; the batch's newcomers are loaded a
//! few at a time, not one after another), flag the experiment lists they name (clicks,
//! conversions, dismissals), re-rank those customers and push each one's list to their channel
//! (the publishes in flight together, so a batch of many customers waits for one round trip to
//! the fan-out, not one per customer). Partitions are keyed by user, so in distributed mode a
//! customer's state lives on the worker that owns their partition; a worker taking a partition
//! over loads the state from the store on the customer's next event.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use finpulse_bus::StreamError;
use finpulse_bus::runtime::{Decoded, Handler, Registry, Spec, retry};
use finpulse_core::recommend::Interaction;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::RecommendError;
use crate::events::{INTERACTIONS_DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, InteractionEvent};
use crate::recommender::UserState;
use crate::service::{PUSHED, RecommendService};

/// The processor's consumer group.
pub const RECOMMEND_GROUP: &str = "recommend";

/// The processor's spec.
pub const RECOMMEND: Spec = Spec {
    group: RECOMMEND_GROUP,
    topic: INTERACTIONS_TOPIC,
    dead_letter_topic: INTERACTIONS_DEAD_LETTER_TOPIC,
    batch: 256,
};

/// Customers' states loaded from the store at once, at most (a batch's newcomers).
const STATE_LOADS: usize = 16;

/// Customers' states held at most; past it the map is cleared and refilled from the store
/// as customers come back (a bounded cache, not a source of truth).
const MAX_STATES: usize = 100_000;

/// The processor.
pub struct RecommendProcessor {
    service: Arc<RecommendService>,
    states: HashMap<String, UserState>,
}

impl RecommendProcessor {
    /// A processor serving `service`'s model.
    pub fn new(service: Arc<RecommendService>) -> Self {
        Self {
            service,
            states: HashMap::new(),
        }
    }
}

fn dependency(what: &'static str) -> impl Fn(RecommendError) -> StreamError {
    move |error| StreamError::Dependency {
        what,
        source: Box::new(error),
    }
}

#[async_trait]
impl Handler for RecommendProcessor {
    type Event = InteractionEvent;

    async fn handle(
        &mut self,
        batch: Vec<Decoded<InteractionEvent>>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        let interactions: Vec<Interaction> =
            batch.into_iter().map(|decoded| decoded.event.0).collect();
        let store = self.service.store().clone();
        retry("keep interactions", shutdown, || {
            store.record_interactions(&interactions)
        })
        .await
        .map_err(|e| StreamError::Dependency {
            what: "keep interactions",
            source: Box::new(e),
        })?;
        let experiments = self.service.experiments().clone();
        retry("attribute outcomes", shutdown, || {
            experiments.attribute(&interactions)
        })
        .await
        .map_err(dependency("attribute outcomes"))?;
        if self.states.len() > MAX_STATES {
            self.states.clear();
        }
        let mut touched: Vec<String> = Vec::new();
        for interaction in &interactions {
            if !touched.contains(&interaction.user) {
                touched.push(interaction.user.clone());
            }
        }
        // Customers first seen here: their stored state already holds this batch.
        let newcomers: Vec<String> = touched
            .iter()
            .filter(|user| !self.states.contains_key(*user))
            .cloned()
            .collect();
        let service = &self.service;
        let loaded = futures::stream::iter(newcomers.into_iter().map(|user| async move {
            retry("load a customer's state", shutdown, || {
                service.load_state(&user)
            })
            .await
            .map(|state| (user, state))
        }))
        .buffer_unordered(STATE_LOADS)
        .collect::<Vec<_>>()
        .await;
        let mut fresh = std::collections::HashSet::new();
        for result in loaded {
            let (user, state) = result.map_err(dependency("load a customer's state"))?;
            fresh.insert(user.clone());
            self.states.insert(user, state);
        }
        for interaction in &interactions {
            if fresh.contains(&interaction.user) {
                continue;
            }
            if let Some(state) = self.states.get_mut(&interaction.user) {
                state.record(interaction, &self.service.config().weights);
            }
        }
        let mut lists = Vec::with_capacity(touched.len());
        for user in &touched {
            match self.service.list_for(&self.states[user], PUSHED, &[]) {
                Ok(list) => lists.push(list),
                Err(RecommendError::NotReady) => {}
                Err(error) => warn!(%error, user, "failed to rank recommendations"),
            }
        }
        let service = &self.service;
        let pushes = lists.iter().map(|list| async move {
            if let Err(error) = service.push(list).await {
                // A lost push is superseded by the next one; the list is always readable by
                // query. Not worth stopping the processor for.
                warn!(%error, user = %list.user, "failed to push recommendations");
            }
        });
        futures::future::join_all(pushes).await;
        Ok(())
    }
}

/// Registers the recommend processor.
pub async fn register(
    registry: &mut Registry,
    service: Arc<RecommendService>,
) -> Result<(), StreamError> {
    registry
        .register(RECOMMEND, RecommendProcessor::new(service))
        .await
}

/// Creates the topics the recommender uses.
pub async fn ensure_recommend_topics(
    log: &dyn finpulse_bus::EventLog,
    partitions: i32,
) -> Result<(), StreamError> {
    log.ensure_topic(INTERACTIONS_TOPIC, partitions).await?;
    log.ensure_topic(INTERACTIONS_DEAD_LETTER_TOPIC, partitions)
        .await
}
