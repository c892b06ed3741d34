//! The ticket repository on both engines, each test on a fresh database: tickets are kept
//! once per id, queue by priority then age, are listed per customer, come due by their next
//! SLA time, and a replacement that read an older version changes nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use finpulse_core::support::{CustomerTier, SlaStage, Ticket, TicketPriority, TicketStatus};
use finpulse_store::{SqlStore, TicketData};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn ticket(id: &str, customer: &str, priority: TicketPriority, secs: i64) -> Ticket {
    Ticket {
        id: id.into(),
        customer: customer.into(),
        subject: format!("subject {id}"),
        description: format!("description {id}"),
        language: Some("en".into()),
        category: "card_fraud".into(),
        category_confidence: 0.9,
        needs_triage: false,
        sentiment: None,
        tier: CustomerTier::Standard,
        priority,
        priority_reasons: vec!["category card_fraud is urgent".into()],
        status: TicketStatus::Open,
        sla_stage: SlaStage::OnTrack,
        created_at: at(secs),
        first_response_due: at(secs) + Duration::minutes(15),
        first_response_at: None,
        resolution_due: at(secs) + Duration::hours(4),
        solved_at: None,
        updated_at: at(secs),
    }
}

async fn tickets_are_kept_once_and_queue_by_priority_then_age(store: SqlStore) {
    let low = ticket("t-low", "alice", TicketPriority::Low, 0);
    let urgent_late = ticket("t-urgent-late", "bob", TicketPriority::Urgent, 20);
    let urgent_early = ticket("t-urgent-early", "alice", TicketPriority::Urgent, 10);
    for t in [&low, &urgent_late, &urgent_early] {
        assert!(
            store
                .create_ticket(t, Some(t.first_response_due))
                .await
                .unwrap()
        );
    }
    let mut again = low.clone();
    again.subject = "changed".into();
    assert!(
        !store.create_ticket(&again, None).await.unwrap(),
        "an id is kept once"
    );
    assert_eq!(store.ticket("t-low").await.unwrap().unwrap(), low);
    assert!(store.ticket("t-none").await.unwrap().is_none());
    let queue: Vec<String> = store
        .tickets_in(TicketStatus::Open, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(queue, ["t-urgent-early", "t-urgent-late", "t-low"]);
    let alice: Vec<String> = store
        .tickets_of("alice", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        alice,
        ["t-urgent-early", "t-low"],
        "newest first, hers only"
    );
    assert!(
        store
            .tickets_in(TicketStatus::Solved, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tickets_come_due_by_their_next_sla_time(store: SqlStore) {
    let a = ticket("t-a", "alice", TicketPriority::Urgent, 0);
    let b = ticket("t-b", "bob", TicketPriority::Normal, 0);
    let solved = {
        let mut t = ticket("t-solved", "carol", TicketPriority::Normal, 0);
        t.status = TicketStatus::Solved;
        t
    };
    store.create_ticket(&a, Some(at(600))).await.unwrap();
    store.create_ticket(&b, Some(at(300))).await.unwrap();
    store.create_ticket(&solved, Some(at(100))).await.unwrap();
    let due = |secs| {
        let store = store.clone();
        async move {
            store
                .tickets_due(at(secs), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    assert!(due(299).await.is_empty(), "a solved ticket never comes due");
    assert_eq!(due(300).await, ["t-b"]);
    assert_eq!(due(700).await, ["t-b", "t-a"], "soonest first");
    // No next time: never due again.
    let mut escalated = b.clone();
    escalated.sla_stage = SlaStage::FirstResponseBreached;
    escalated.updated_at = at(301);
    assert!(
        store
            .replace_ticket(&escalated, b.updated_at, None)
            .await
            .unwrap()
    );
    assert_eq!(due(10_000).await, ["t-a"]);
}

async fn a_replacement_that_read_an_older_version_changes_nothing(store: SqlStore) {
    let original = ticket("t-1", "alice", TicketPriority::High, 0);
    store.create_ticket(&original, Some(at(900))).await.unwrap();
    // Two writers read the same version; the first wins.
    let mut answered = original.clone();
    answered.first_response_at = Some(at(60));
    answered.updated_at = at(60);
    let mut escalated = original.clone();
    escalated.sla_stage = SlaStage::FirstResponseAtRisk;
    escalated.updated_at = at(61);
    assert!(
        store
            .replace_ticket(&answered, original.updated_at, Some(at(3_600)))
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_ticket(&escalated, original.updated_at, Some(at(900)))
            .await
            .unwrap(),
        "the second writer read an older version"
    );
    let kept = store.ticket("t-1").await.unwrap().unwrap();
    assert_eq!(kept, answered);
    // Read again, it applies on top.
    let mut again = kept.clone();
    again.sla_stage = SlaStage::ResolutionAtRisk;
    again.updated_at = at(62);
    assert!(
        store
            .replace_ticket(&again, kept.updated_at, Some(at(3_600)))
            .await
            .unwrap()
    );
    let kept = store.ticket("t-1").await.unwrap().unwrap();
    assert_eq!(kept.first_response_at, Some(at(60)));
    assert_eq!(kept.sla_stage, SlaStage::ResolutionAtRisk);
    // Another customer's id cannot be taken over.
    let mut hijack = kept.clone();
    hijack.customer = "mallory".into();
    hijack.updated_at = at(63);
    assert!(
        !store
            .replace_ticket(&hijack, kept.updated_at, None)
            .await
            .unwrap()
    );
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

/// The regression of `tickets(status: OPEN)` for a customer: fifty newer solved tickets do not
/// hide an older open one (the status is filtered before the limit).
async fn a_customers_open_ticket_is_found_behind_fifty_solved_ones(store: SqlStore) {
    let open = ticket("t-open", "alice", TicketPriority::Normal, 0);
    assert!(store.create_ticket(&open, None).await.unwrap());
    for n in 1..=50 {
        let mut solved = ticket(&format!("t-solved-{n}"), "alice", TicketPriority::Low, n);
        solved.status = TicketStatus::Solved;
        assert!(store.create_ticket(&solved, None).await.unwrap());
    }
    let open_ones = store
        .tickets_of("alice", Some(TicketStatus::Open), 50)
        .await
        .unwrap();
    assert_eq!(
        open_ones.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t-open"]
    );
    let solved = store
        .tickets_of("alice", Some(TicketStatus::Solved), 10)
        .await
        .unwrap();
    assert_eq!(solved.len(), 10);
    assert_eq!(solved[0].id, "t-solved-50", "newest first");
    assert_eq!(
        store.tickets_of("alice", None, 100).await.unwrap().len(),
        51
    );
}

macro_rules! ticket_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn tickets_are_kept_once_and_queue_by_priority_then_age() {
                let (store, _guard) = super::$engine().await;
                super::tickets_are_kept_once_and_queue_by_priority_then_age(store).await;
            }
            #[tokio::test]
            async fn tickets_come_due_by_their_next_sla_time() {
                let (store, _guard) = super::$engine().await;
                super::tickets_come_due_by_their_next_sla_time(store).await;
            }
            #[tokio::test]
            async fn a_replacement_that_read_an_older_version_changes_nothing() {
                let (store, _guard) = super::$engine().await;
                super::a_replacement_that_read_an_older_version_changes_nothing(store).await;
            }
            #[tokio::test]
            async fn a_customers_open_ticket_is_found_behind_fifty_solved_ones() {
                let (store, _keep) = super::$engine().await;
                super::a_customers_open_ticket_is_found_behind_fifty_solved_ones(store).await;
            }
        }
    };
}

ticket_conformance!(sqlite);
ticket_conformance!(postgres);
