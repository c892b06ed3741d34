//! The support repository on both engines, each test on a fresh database: FAQ entries
//! round-trip and are replaced by id and language; conversations are per customer, queue in
//! waiting order and cannot change customer; messages are kept once and read in order;
//! customers' account facts are replaced whole; agents are recorded once.

use chrono::{DateTime, TimeZone, Utc};
use finpulse_core::support::{
    Card, CardStatus, Conversation, ConversationStatus, CustomerAccount, CustomerTier, FaqEntry,
    Message, Participant,
};
use finpulse_store::{SqlStore, SupportData};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn entry(id: &str, language: &str, answer: &str) -> FaqEntry {
    FaqEntry {
        id: id.into(),
        language: language.into(),
        intent: "card_payment_failed".into(),
        tags: vec!["cards".into()],
        questions: vec!["Why was my card declined?".into(), "Card refused".into()],
        answer: answer.into(),
    }
}

fn conversation(id: &str, customer: &str, status: ConversationStatus, secs: i64) -> Conversation {
    Conversation {
        id: id.into(),
        customer: customer.into(),
        status,
        agent: None,
        language: Some("en".into()),
        csat: None,
        created_at: at(secs),
        updated_at: at(secs),
    }
}

fn message(id: &str, conversation: &str, author: Participant, secs: i64) -> Message {
    Message {
        id: id.into(),
        conversation: conversation.into(),
        author,
        author_id: match author {
            Participant::Customer => "alice".into(),
            Participant::Bot => "bot".into(),
            Participant::Agent => "agent-7".into(),
        },
        text: format!("message {id}"),
        language: Some("en".into()),
        evidence: (author == Participant::Bot)
            .then(|| serde_json::json!({"intent": "card_payment_failed", "confidence": 0.91})),
        at: at(secs),
        action: None,
        sentiment: None,
    }
}

async fn faq_entries_round_trip_and_are_replaced_by_id_and_language(store: SqlStore) {
    store
        .upsert_faq_entries(&[
            entry("card", "en", "Check the card."),
            entry("card", "de", "Prüfen Sie die Karte."),
            entry("pin", "en", "Change it at a cash machine."),
        ])
        .await
        .unwrap();
    store
        .upsert_faq_entries(&[entry("card", "en", "Check the card status in the app.")])
        .await
        .unwrap();
    let entries = store.faq_entries().await.unwrap();
    let keys: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.id.as_str(), e.language.as_str()))
        .collect();
    assert_eq!(keys, [("card", "de"), ("card", "en"), ("pin", "en")]);
    assert_eq!(
        entries[1],
        entry("card", "en", "Check the card status in the app.")
    );
    assert_eq!(store.delete_faq_entry("card", Some("de")).await.unwrap(), 1);
    assert_eq!(store.delete_faq_entry("pin", None).await.unwrap(), 1);
    assert_eq!(store.delete_faq_entry("nothing", None).await.unwrap(), 0);
    assert_eq!(store.faq_entries().await.unwrap().len(), 1);
}

async fn conversations_are_per_customer_and_queue_in_waiting_order(store: SqlStore) {
    use ConversationStatus::*;
    assert!(
        store
            .create_conversation(&conversation("c1", "alice", Open, 10))
            .await
            .unwrap()
    );
    assert!(
        store
            .create_conversation(&conversation("c2", "alice", WaitingForAgent, 30))
            .await
            .unwrap()
    );
    assert!(
        store
            .create_conversation(&conversation("c3", "bob", WaitingForAgent, 20))
            .await
            .unwrap()
    );
    // An id is taken once.
    assert!(
        !store
            .create_conversation(&conversation("c1", "bob", Open, 40))
            .await
            .unwrap()
    );
    assert_eq!(
        store.conversation("c1").await.unwrap().unwrap().customer,
        "alice"
    );
    let alices: Vec<String> = store
        .conversations_of("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(alices, ["c2", "c1"], "most recently active first");
    assert!(
        store
            .conversations_of("carol", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let queue: Vec<String> = store
        .conversations_in(WaitingForAgent, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(queue, ["c3", "c2"], "longest waiting first");

    // Claimed: out of the queue, into the agent's hands.
    let mut claimed = store.conversation("c3").await.unwrap().unwrap();
    claimed.status = WithAgent;
    claimed.agent = Some("agent-7".into());
    claimed.updated_at = at(50);
    assert!(store.update_conversation(&claimed).await.unwrap());
    store
        .add_participant("c3", "agent-7", Participant::Agent, at(50))
        .await
        .unwrap();
    store
        .add_participant("c3", "agent-7", Participant::Agent, at(60))
        .await
        .unwrap();
    assert_eq!(store.conversation("c3").await.unwrap().unwrap(), claimed);
    assert_eq!(
        store.participants("c3").await.unwrap(),
        [
            ("bob".to_owned(), Participant::Customer),
            ("agent-7".to_owned(), Participant::Agent)
        ]
    );
    let queue = store.conversations_in(WaitingForAgent, 10).await.unwrap();
    assert_eq!(queue.len(), 1);
    // A conversation cannot be moved to another customer.
    let mut stolen = claimed.clone();
    stolen.customer = "mallory".into();
    assert!(!store.update_conversation(&stolen).await.unwrap());
    assert_eq!(
        store.conversation("c3").await.unwrap().unwrap().customer,
        "bob"
    );
    assert!(store.conversation("nope").await.unwrap().is_none());
}

async fn messages_are_kept_once_and_read_in_order(store: SqlStore) {
    use ConversationStatus::*;
    store
        .create_conversation(&conversation("c1", "alice", Open, 0))
        .await
        .unwrap();
    let messages = [
        message("m1", "c1", Participant::Customer, 1),
        message("m2", "c1", Participant::Bot, 2),
        message("m3", "c1", Participant::Agent, 3),
    ];
    store.add_messages(&messages).await.unwrap();
    // A redelivery changes nothing.
    store.add_messages(&messages[1..2]).await.unwrap();
    assert_eq!(store.messages("c1", 10).await.unwrap(), messages);
    assert_eq!(store.messages("c1", 2).await.unwrap(), messages[1..]);
    assert!(store.messages("c2", 10).await.unwrap().is_empty());
    let bot = &store.messages("c1", 10).await.unwrap()[1];
    assert_eq!(
        bot.evidence.as_ref().unwrap()["intent"],
        "card_payment_failed"
    );
}

async fn account_facts_are_replaced_whole_per_customer(store: SqlStore) {
    let mut alice = CustomerAccount {
        customer: "alice".into(),
        name: "Alice Martin".into(),
        tier: CustomerTier::Premium,
        cards: vec![Card {
            id: "card-1".into(),
            last4: "4242".into(),
            status: CardStatus::Active,
        }],
    };
    let bob = CustomerAccount {
        customer: "bob".into(),
        name: "Bob Stone".into(),
        tier: CustomerTier::Standard,
        cards: Vec::new(),
    };
    store
        .upsert_customer_accounts(&[alice.clone(), bob.clone()])
        .await
        .unwrap();
    alice.cards[0].status = CardStatus::Blocked;
    store
        .upsert_customer_accounts(std::slice::from_ref(&alice))
        .await
        .unwrap();
    assert_eq!(store.customer_account("alice").await.unwrap(), Some(alice));
    assert_eq!(store.customer_account("bob").await.unwrap(), Some(bob));
    assert_eq!(store.customer_account("carol").await.unwrap(), None);
}

async fn agents_are_recorded_once_and_known_by_id(store: SqlStore) {
    assert!(!store.is_agent("sam").await.unwrap());
    store.record_agent("sam", at(0)).await.unwrap();
    store.record_agent("ana", at(5)).await.unwrap();
    // Seen again: still one agent.
    store.record_agent("sam", at(10)).await.unwrap();
    assert!(store.is_agent("sam").await.unwrap());
    assert!(!store.is_agent("alice").await.unwrap());
    assert_eq!(store.agents(100).await.unwrap(), ["ana", "sam"]);
    assert_eq!(store.agents(1).await.unwrap(), ["ana"]);
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

/// CSAT over every resolved conversation, past the 10,000 a listing returns (the rows are made
/// by one SQL statement; only the status and the rating matter to the aggregate): 10,050
/// resolved, rated 1–5 in turn except every tenth, unrated; open ones do not count.
async fn csat_counts_every_resolved_conversation(store: SqlStore) {
    store
        .run_raw_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10050)
             INSERT INTO sup_conversation (id, customer_id, status, data, created_ms, updated_ms)
             SELECT 'c' || CAST(i AS TEXT), 'alice', 'resolved',
                    CASE WHEN i % 10 = 0 THEN '{\"csat\":null}'
                         ELSE '{\"csat\":' || CAST(i % 5 + 1 AS TEXT) || '}' END, i, i
             FROM n",
        )
        .await
        .unwrap();
    store
        .run_raw_sql(
            "INSERT INTO sup_conversation (id, customer_id, status, data, created_ms, updated_ms)
             VALUES ('open-1', 'bob', 'open', '{\"csat\":1}', 1, 1)",
        )
        .await
        .unwrap();
    let counts = store.csat_counts().await.unwrap();
    assert_eq!(counts.resolved, 10_050);
    // Brute force, the same rule: i in 1..=10050 not a multiple of 10, score i % 5 + 1.
    let mut expected = [0u64; 5];
    for i in (1..=10_050u64).filter(|i| i % 10 != 0) {
        expected[(i % 5) as usize] += 1;
    }
    assert_eq!(counts.by_score, expected);
    assert_eq!(counts.ratings(), 10_050 - 1_005);
    let empty = finpulse_core::support::CsatCounts::default();
    assert_eq!(empty.average(), None);
}

macro_rules! support_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn faq_entries_round_trip_and_are_replaced_by_id_and_language() {
                let (store, _guard) = super::$engine().await;
                super::faq_entries_round_trip_and_are_replaced_by_id_and_language(store).await;
            }
            #[tokio::test]
            async fn conversations_are_per_customer_and_queue_in_waiting_order() {
                let (store, _guard) = super::$engine().await;
                super::conversations_are_per_customer_and_queue_in_waiting_order(store).await;
            }
            #[tokio::test]
            async fn messages_are_kept_once_and_read_in_order() {
                let (store, _guard) = super::$engine().await;
                super::messages_are_kept_once_and_read_in_order(store).await;
            }
            #[tokio::test]
            async fn agents_are_recorded_once_and_known_by_id() {
                let (store, _guard) = super::$engine().await;
                super::agents_are_recorded_once_and_known_by_id(store).await;
            }
            #[tokio::test]
            async fn account_facts_are_replaced_whole_per_customer() {
                let (store, _guard) = super::$engine().await;
                super::account_facts_are_replaced_whole_per_customer(store).await;
            }
            #[tokio::test]
            async fn csat_counts_every_resolved_conversation() {
                let (store, _keep) = super::$engine().await;
                super::csat_counts_every_resolved_conversation(store).await;
            }
        }
    };
}

support_conformance!(sqlite);
support_conformance!(postgres);
