//! The audit trail on both engines, each test on a fresh database: entries chain in order and
//! list newest first by actor and subject; concurrent appends from many writers all land, in
//! one unbroken chain; an edited, removed or re-linked row, and a removed head, are found by
//! verification.

use chrono::{TimeZone, Utc};
use finpulse_core::audit::NewAuditEntry;
use finpulse_store::audit::GENESIS;
use finpulse_store::{AuditData, AuditFilter, ChainBreak, SqlStore};
use serde_json::json;

fn entry(actor: &str, action: &str, subject: Option<&str>, n: i64) -> NewAuditEntry {
    NewAuditEntry {
        at: Utc.timestamp_opt(1_700_000_000 + n, 0).unwrap(),
        actor: actor.into(),
        roles: vec!["agent".into()],
        action: action.into(),
        subject: subject.map(str::to_owned),
        target: Some(format!("conversation-{n}")),
        detail: json!({"n": n, "note": "ünïcode ✓"}),
    }
}

async fn entries_chain_in_order_and_list_newest_first(store: SqlStore) {
    let first = store
        .append_audit(&entry("sam", "support.conversation.read", Some("alice"), 1))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS);
    let second = store
        .append_audit(&entry("ops", "faq.put", None, 2))
        .await
        .unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    store
        .append_audit(&entry("sam", "support.ticket.read", Some("bob"), 3))
        .await
        .unwrap();
    let all = store
        .audit_entries(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(all[2], first, "an entry reads back as it was kept");
    let sams = AuditFilter {
        actor: Some("sam".into()),
        subject: None,
    };
    let by_sam = store.audit_entries(&sams, None, 10).await.unwrap();
    assert_eq!(by_sam.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 1]);
    let older = store.audit_entries(&sams, Some(3), 10).await.unwrap();
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    let about_bob = AuditFilter {
        actor: None,
        subject: Some("bob".into()),
    };
    assert_eq!(
        store
            .audit_entries(&about_bob, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let report = store.verify_audit_chain(None).await.unwrap();
    assert_eq!(report.entries, 3);
    assert_eq!(report.broken, None);
    assert_eq!(report.head.as_deref(), Some(all[0].hash.as_str()));
    let report = store.verify_audit_chain(Some(&second.hash)).await.unwrap();
    assert_eq!(report.broken, None, "an older head is still in the chain");
}

async fn concurrent_writers_make_one_unbroken_chain(store: SqlStore) {
    let mut writers = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..10 {
                store
                    .append_audit(&entry(
                        &format!("agent-{writer}"),
                        "support.conversation.read",
                        Some("alice"),
                        n,
                    ))
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let report = store.verify_audit_chain(None).await.unwrap();
    assert_eq!(report.entries, 80);
    assert_eq!(report.broken, None);
}

async fn tampering_is_found(store: SqlStore) {
    for n in 1..=5 {
        store
            .append_audit(&entry("sam", "support.conversation.read", Some("alice"), n))
            .await
            .unwrap();
    }
    let head = store.verify_audit_chain(None).await.unwrap().head.unwrap();
    // The newest entry removed: the chain left is whole, but the head kept elsewhere is gone.
    store
        .run_raw_sql("DELETE FROM audit_log WHERE seq = 5")
        .await
        .unwrap();
    assert_eq!(store.verify_audit_chain(None).await.unwrap().broken, None);
    assert_eq!(
        store.verify_audit_chain(Some(&head)).await.unwrap().broken,
        Some(ChainBreak::HeadMissing(head.clone()))
    );
    // An entry edited to hide who read what.
    store
        .run_raw_sql("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit_chain(None).await.unwrap().broken,
        Some(ChainBreak::Edited { seq: 3 })
    );
    // Re-hashing the edited row does not help: the next one no longer follows it.
    let rehashed = store
        .audit_entries(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert!(
        rehashed
            .iter()
            .any(|e| e.seq == 3 && e.entry.actor == "nobody")
    );
    store
        .run_raw_sql("UPDATE audit_log SET actor = 'sam' WHERE seq = 3")
        .await
        .unwrap();
    store
        .run_raw_sql(&format!(
            "UPDATE audit_log SET prev_hash = '{}' WHERE seq = 4",
            "f".repeat(64)
        ))
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit_chain(None).await.unwrap().broken,
        Some(ChainBreak::Edited { seq: 4 }),
        "a prev_hash is hashed too"
    );
    // A row in the middle removed.
    store
        .run_raw_sql("DELETE FROM audit_log WHERE seq >= 4")
        .await
        .unwrap();
    store
        .run_raw_sql("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit_chain(None).await.unwrap().broken,
        Some(ChainBreak::Gap {
            expected: 2,
            found: 3
        })
    );
}

use finpulse_store::testing::{fresh_postgres as postgres, fresh_sqlite as sqlite};

macro_rules! audit_conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn entries_chain_in_order_and_list_newest_first() {
                let (store, _guard) = super::$engine().await;
                super::entries_chain_in_order_and_list_newest_first(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_writers_make_one_unbroken_chain() {
                let (store, _guard) = super::$engine().await;
                super::concurrent_writers_make_one_unbroken_chain(store).await;
            }
            #[tokio::test]
            async fn tampering_is_found() {
                let (store, _guard) = super::$engine().await;
                super::tampering_is_found(store).await;
            }
        }
    };
}

audit_conformance!(sqlite);
audit_conformance!(postgres);
