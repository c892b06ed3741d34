//! The SLA watcher on tokio's paused clock: a ticket's clocks escalate each stage once, at its
//! time and never before, as an event on `support.tickets`, a push to agents and a metric; a
//! breach raises the priority; an agent's answer stops the first-response clock and solving
//! the ticket stops them all.
//!
//! The tickets live in a real SQLite store. Its calls run on a runtime of their own whose
//! clock is not paused: the paused test runtime then never sees a store's timer, so its clock
//! moves only to the watcher's ticks, the way an idle server's time passes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use finpulse_bus::fanout::{FanOutItem, LocalFanOut};
use finpulse_bus::log::{MemoryLog, MemoryLogConfig};
use finpulse_bus::{EventLog, FanOut};
use finpulse_core::support::{
    Conversation, ConversationAction, ConversationStatus, CustomerTier, Message, Participant,
    SlaStage, Ticket, TicketPriority, TicketStatus,
};
use finpulse_store::{SqlStore, TicketData};
use finpulse_support::tickets::{
    SlaTargets, TICKETS_TOPIC, TicketChange, TicketEvent, TicketMetrics, TicketPolicy, Tickets,
    UNCATEGORIZED, tickets_channel,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

/// A store whose every call runs on `handle`'s runtime.
struct Elsewhere {
    store: SqlStore,
    handle: Handle,
}

impl Elsewhere {
    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(SqlStore) -> futures::future::BoxFuture<'static, T> + Send + 'static,
    ) -> T {
        let store = self.store.clone();
        self.handle
            .spawn(async move { call(store).await })
            .await
            .expect("store call finished")
    }
}

type StoreResult<T> = finpulse_store::Result<T>;

#[async_trait]
impl TicketData for Elsewhere {
    async fn create_ticket(
        &self,
        ticket: &Ticket,
        next_due: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let ticket = ticket.clone();
        self.run(move |s| Box::pin(async move { s.create_ticket(&ticket, next_due).await }))
            .await
    }

    async fn replace_ticket(
        &self,
        ticket: &Ticket,
        read_at: DateTime<Utc>,
        next_due: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let ticket = ticket.clone();
        self.run(move |s| {
            Box::pin(async move { s.replace_ticket(&ticket, read_at, next_due).await })
        })
        .await
    }

    async fn ticket(&self, id: &str) -> StoreResult<Option<Ticket>> {
        let id = id.to_owned();
        self.run(move |s| Box::pin(async move { s.ticket(&id).await }))
            .await
    }

    async fn tickets_in(&self, status: TicketStatus, limit: u32) -> StoreResult<Vec<Ticket>> {
        self.run(move |s| Box::pin(async move { s.tickets_in(status, limit).await }))
            .await
    }

    async fn tickets_of(
        &self,
        customer: &str,
        status: Option<TicketStatus>,
        limit: u32,
    ) -> StoreResult<Vec<Ticket>> {
        let customer = customer.to_owned();
        self.run(move |s| Box::pin(async move { s.tickets_of(&customer, status, limit).await }))
            .await
    }

    async fn tickets_due(&self, at: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Ticket>> {
        self.run(move |s| Box::pin(async move { s.tickets_due(at, limit).await }))
            .await
    }
}

/// Normal tickets answer in 10 minutes and are solved in an hour; the watcher looks every 30
/// seconds.
fn policy() -> TicketPolicy {
    let mut policy = TicketPolicy {
        check_every_secs: 30,
        ..TicketPolicy::default()
    };
    policy.sla.insert(
        TicketPriority::Normal,
        SlaTargets {
            first_response_minutes: 10,
            resolution_minutes: 60,
        },
    );
    policy.validate().unwrap();
    policy
}

struct Desk {
    tickets: Arc<Tickets>,
    log: Arc<MemoryLog>,
    metrics: TicketMetrics,
    pushed: BoxStream<'static, FanOutItem>,
    shutdown: CancellationToken,
    /// The store's runtime, shut down without waiting when the test ends.
    runtime: Option<Runtime>,
    _dir: tempfile::TempDir,
}

async fn desk() -> Desk {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (store, dir) = runtime
        .spawn(finpulse_store::testing::fresh_sqlite())
        .await
        .unwrap();
    let store = Arc::new(Elsewhere {
        store,
        handle: runtime.handle().clone(),
    });
    let log = Arc::new(MemoryLog::new(MemoryLogConfig::default()));
    log.ensure_topic(TICKETS_TOPIC, 1).await.unwrap();
    let fanout = Arc::new(LocalFanOut::new(64));
    let pushed = fanout.try_subscribe(&tickets_channel()).unwrap();
    let metrics = TicketMetrics::unregistered();
    let tickets = Arc::new(Tickets::new(
        store,
        log.clone(),
        fanout,
        policy(),
        metrics.clone(),
    ));
    let shutdown = CancellationToken::new();
    tokio::spawn(tickets.clone().watch(shutdown.clone()));
    Desk {
        tickets,
        log,
        metrics,
        pushed,
        shutdown,
        runtime: Some(runtime),
        _dir: dir,
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn conversation(id: &str, now: DateTime<Utc>) -> Conversation {
    Conversation {
        id: id.into(),
        customer: "alice".into(),
        status: ConversationStatus::WaitingForAgent,
        agent: None,
        language: Some("en".into()),
        csat: None,
        created_at: now,
        updated_at: now,
    }
}

fn message(id: &str, conversation: &str, author: Participant, text: &str) -> Message {
    Message {
        id: id.into(),
        conversation: conversation.into(),
        author,
        author_id: match author {
            Participant::Customer => "alice".into(),
            _ => "agent-1".into(),
        },
        text: text.into(),
        language: Some("en".into()),
        evidence: None,
        at: Utc::now(),
        action: None,
        sentiment: None,
    }
}

/// An agent's resolving message.
fn resolving(id: &str, conversation: &str) -> Message {
    Message {
        action: Some(ConversationAction::Resolve),
        ..message(
            id,
            conversation,
            Participant::Agent,
            "resolved the conversation",
        )
    }
}

impl Desk {
    /// The next event pushed to agents.
    async fn next_pushed(&mut self) -> TicketEvent {
        match self.pushed.next().await.expect("the fan-out is open") {
            FanOutItem::Message(bytes) => serde_json::from_slice(&bytes).unwrap(),
            FanOutItem::Lagged(n) => panic!("lagged {n}"),
        }
    }

    fn escalations(&self, stage: SlaStage) -> u64 {
        self.metrics
            .escalations
            .with_label_values(&[stage.as_str()])
            .get()
    }

    async fn logged(&self) -> Vec<TicketEvent> {
        let mut consumer = self.log.consumer(TICKETS_TOPIC, "test").await.unwrap();
        let records = consumer.poll(100).await.unwrap();
        records
            .iter()
            .map(|r| {
                finpulse_bus::envelope::Envelope::from_bytes(&r.payload)
                    .unwrap()
                    .decode::<TicketEvent>()
                    .unwrap()
            })
            .collect()
    }
}

fn minutes(n: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((n * 60_000.0) as i64)
}

#[tokio::test(start_paused = true)]
async fn each_stage_escalates_once_at_its_time_and_an_answer_stops_the_first_clock() {
    let mut desk = desk().await;
    let opened_at = desk.tickets.clock().now();
    let chat = conversation("c-1", opened_at);
    let said = message(
        "m-1",
        "c-1",
        Participant::Customer,
        "my transfer never arrived",
    );
    let ticket = desk
        .tickets
        .open(&chat, &[said], None, CustomerTier::Standard)
        .await
        .unwrap();
    // No triage models: the ticket waits for a person to categorize it.
    assert_eq!(ticket.category, UNCATEGORIZED);
    assert!(ticket.needs_triage);
    assert_eq!(ticket.priority, TicketPriority::Normal);
    assert_eq!(ticket.subject, "my transfer never arrived");
    assert_eq!(ticket.first_response_due - ticket.created_at, minutes(10.0));
    let opened = desk.next_pushed().await;
    assert_eq!(opened.change, TicketChange::Opened);

    // A redelivered handoff opens nothing new: the same ticket with the same clocks. (Its SLA
    // stage may already have moved: while this call waits for the store, which runs on the
    // other runtime, the paused clock is idle and jumps to the watcher's next pass.)
    let again = desk
        .tickets
        .open(&chat, &[], None, CustomerTier::Standard)
        .await
        .unwrap();
    assert_eq!(
        (
            &again.id,
            again.created_at,
            again.first_response_due,
            again.resolution_due
        ),
        (
            &ticket.id,
            ticket.created_at,
            ticket.first_response_due,
            ticket.resolution_due
        )
    );

    // At risk once 80 % of the 10 minutes ran: at 8 minutes, by the next 30-second pass.
    // Timed by the pass that escalated (the ticket's `updated_at`), not by when the push is
    // read here: under a loaded machine the store's other runtime answers slowly and the
    // paused clock jumps ahead while this task waits for the push.
    let at_risk = desk.next_pushed().await;
    let when = at_risk.ticket.updated_at;
    assert_eq!(at_risk.change, TicketChange::Escalated);
    assert_eq!(at_risk.ticket.sla_stage, SlaStage::FirstResponseAtRisk);
    assert!(when - ticket.created_at >= minutes(8.0), "early: {when}");
    assert!(when - ticket.created_at <= minutes(8.6), "late: {when}");
    assert_eq!(at_risk.ticket.priority, TicketPriority::Normal);
    assert_eq!(desk.escalations(SlaStage::FirstResponseAtRisk), 1);

    // Breached at 10 minutes: escalated, and raised a step.
    let breached = desk.next_pushed().await;
    let when = breached.ticket.updated_at;
    assert_eq!(breached.ticket.sla_stage, SlaStage::FirstResponseBreached);
    assert!(when - ticket.created_at >= minutes(10.0), "early: {when}");
    assert!(when - ticket.created_at <= minutes(10.6), "late: {when}");
    assert_eq!(breached.ticket.priority, TicketPriority::High);
    assert!(
        breached
            .ticket
            .priority_reasons
            .iter()
            .any(|r| r.contains("first response breached")),
        "{:?}",
        breached.ticket.priority_reasons
    );
    // The due times stay those it was opened with: raising the priority does not move the
    // deadline it already missed.
    assert_eq!(breached.ticket.resolution_due, ticket.resolution_due);

    // An agent answers at about 11 minutes: the first clock stops.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let reply = message("m-2", "c-1", Participant::Agent, "looking into it now");
    desk.tickets
        .after_message(&chat, &reply, false)
        .await
        .unwrap();
    let answered = desk.next_pushed().await;
    assert_eq!(answered.change, TicketChange::Answered);
    assert!(answered.ticket.first_response_at.is_some());
    // A second answer changes nothing and announces nothing.
    let more = message("m-3", "c-1", Participant::Agent, "still on it");
    desk.tickets
        .after_message(&chat, &more, false)
        .await
        .unwrap();

    // Next comes the resolution clock at 48 minutes (80 % of the hour), nothing before.
    let resolution = desk.next_pushed().await;
    let when = resolution.ticket.updated_at;
    assert_eq!(resolution.ticket.sla_stage, SlaStage::ResolutionAtRisk);
    assert!(when - ticket.created_at >= minutes(48.0), "early: {when}");
    assert!(when - ticket.created_at <= minutes(48.6), "late: {when}");

    // Solved: the clocks stop; hours later nothing more comes.
    let resolve = resolving("m-4", "c-1");
    desk.tickets
        .after_message(&chat, &resolve, true)
        .await
        .unwrap();
    let solved = desk.next_pushed().await;
    assert_eq!(solved.change, TicketChange::Solved);
    assert_eq!(solved.ticket.status, TicketStatus::Solved);
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    assert_eq!(desk.escalations(SlaStage::ResolutionBreached), 0);
    let stored = desk
        .tickets
        .ticket_for("agent-1", true, "c-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sla_stage, SlaStage::ResolutionAtRisk);
    assert_eq!(stored.status, TicketStatus::Solved);

    // The log holds the same story, in order, for systems that page people.
    let changes: Vec<(TicketChange, SlaStage)> = desk
        .logged()
        .await
        .into_iter()
        .map(|e| (e.change, e.ticket.sla_stage))
        .collect();
    assert_eq!(
        changes,
        [
            (TicketChange::Opened, SlaStage::OnTrack),
            (TicketChange::Escalated, SlaStage::FirstResponseAtRisk),
            (TicketChange::Escalated, SlaStage::FirstResponseBreached),
            (TicketChange::Answered, SlaStage::FirstResponseBreached),
            (TicketChange::Escalated, SlaStage::ResolutionAtRisk),
            (TicketChange::Solved, SlaStage::ResolutionAtRisk),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_watcher_that_was_down_escalates_the_furthest_stage_once() {
    let mut desk = desk().await;
    desk.shutdown.cancel();
    let now = desk.tickets.clock().now();
    let chat = conversation("c-2", now);
    let said = message("m-1", "c-2", Participant::Customer, "where is my card");
    desk.tickets
        .open(&chat, &[said], None, CustomerTier::Premium)
        .await
        .unwrap();
    let opened = desk.next_pushed().await;
    // Premium: raised from normal to high, whose default SLA is an hour to answer.
    assert_eq!(opened.ticket.priority, TicketPriority::High);
    assert_eq!(
        opened.ticket.first_response_due - opened.ticket.created_at,
        minutes(60.0)
    );
    // Two hours pass with no watcher; one pass escalates straight to the breach, once.
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let later = desk.tickets.clock().now();
    let escalated = desk.tickets.escalate_due(later).await.unwrap();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].sla_stage, SlaStage::FirstResponseBreached);
    assert_eq!(escalated[0].priority, TicketPriority::Urgent);
    assert_eq!(desk.escalations(SlaStage::FirstResponseAtRisk), 0);
    assert_eq!(desk.escalations(SlaStage::FirstResponseBreached), 1);
    assert!(desk.tickets.escalate_due(later).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_solved_ticket_handed_off_again_reopens_with_fresh_clocks() {
    let mut desk = desk().await;
    desk.shutdown.cancel();
    let now = desk.tickets.clock().now();
    let chat = conversation("c-3", now);
    let said = message("m-1", "c-3", Participant::Customer, "my order is stuck");
    let first = desk
        .tickets
        .open(
            &chat,
            std::slice::from_ref(&said),
            None,
            CustomerTier::Standard,
        )
        .await
        .unwrap();
    let resolve = resolving("m-2", "c-3");
    desk.tickets
        .after_message(&chat, &resolve, true)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let again = message("m-3", "c-3", Participant::Customer, "it is stuck again");
    let reopened = desk
        .tickets
        .open(&chat, &[said, again], None, CustomerTier::Standard)
        .await
        .unwrap();
    assert_eq!(reopened.status, TicketStatus::Open);
    assert!(reopened.created_at - first.created_at >= minutes(60.0));
    assert_eq!(
        reopened.first_response_due - reopened.created_at,
        minutes(10.0)
    );
    assert_eq!(reopened.description, "my order is stuck\nit is stuck again");
    let changes: Vec<TicketChange> = [
        desk.next_pushed().await,
        desk.next_pushed().await,
        desk.next_pushed().await,
    ]
    .into_iter()
    .map(|e| e.change)
    .collect();
    assert_eq!(
        changes,
        [
            TicketChange::Opened,
            TicketChange::Solved,
            TicketChange::Opened
        ]
    );
}
