//! The audit trail as an operator reads it: every agent's read of a customer's conversation or
//! ticket and every privileged change is in `auditLog`, newest first, filterable by actor and
//! customer and paged by `seq`; a customer reading their own data is not recorded.

use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app};
use crate::support::agent_token;

const LOG: &str = "query($first: Int!, $after: ID, $actor: String, $subject: String) { \
    auditLog(first: $first, after: $after, actor: $actor, subject: $subject) { \
    seq at actor roles action subject target detail hash prevHash } }";

async fn log(app: &TestApp, admin: &str, variables: Value) -> Vec<Value> {
    let (_, body) = app.graphql(LOG, variables, Some(admin)).await;
    body["data"]["auditLog"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .clone()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn ok(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    let (_, body) = app.graphql(query, variables, Some(token)).await;
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn agents_reads_and_privileged_changes_are_in_the_audit_log_and_customers_reads_are_not() {
    let app = spawn_app().await;
    let alice = app.token("alice", None);
    let sam = agent_token(&app, "sam");
    let ops = app.admin_token("ops");

    let conversation = crate::support::start(&app, &alice, None).await;
    // The customer's own reads are not audit events.
    ok(
        &app,
        "query($id: ID!) { conversation(id: $id) { id } }",
        json!({"id": conversation}),
        &alice,
    )
    .await;
    let (_, ticket) = app
        .graphql(
            "mutation { createTicket(subject: \"Card\", text: \"My card is blocked\") { id } }",
            json!({}),
            Some(&alice),
        )
        .await;
    let ticket = ticket["data"]["createTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(log(&app, &ops, json!({"first": 50})).await.is_empty());

    // An agent reads and acts on alice's conversation and ticket.
    ok(
        &app,
        "query($id: ID!) { conversation(id: $id) { id } }",
        json!({"id": conversation}),
        &sam,
    )
    .await;
    ok(
        &app,
        "mutation($id: ID!) { claimConversation(id: $id) { id } }",
        json!({"id": conversation}),
        &sam,
    )
    .await;
    eventually("the ticket is triaged", || {
        let (app, sam, ticket) = (&app, sam.clone(), ticket.clone());
        async move {
            let (_, body) = app
                .graphql(
                    "query($id: ID!) { ticket(id: $id) { id } }",
                    json!({"id": ticket}),
                    Some(&sam),
                )
                .await;
            body["data"]["ticket"]["id"].is_string()
        }
    })
    .await;
    // Operators change the FAQ and run an experiment.
    ok(
        &app,
        "mutation { putFaqEntry(entry: { id: \"audit-entry\", language: \"en\", \
         questions: [\"Who read my data?\"], answer: \"Ask us.\" }) { id } }",
        json!({}),
        &ops,
    )
    .await;
    ok(
        &app,
        "mutation { deleteFaqEntry(id: \"audit-entry\") }",
        json!({}),
        &ops,
    )
    .await;
    ok(
        &app,
        "mutation { createExperiment(input: { id: \"audited\", mode: AB_TEST, variants: \
         [{ name: \"a\", strategy: \"collaborative\", weight: 1 }, \
         { name: \"b\", strategy: \"popularity\", weight: 1 }] }) { id } }",
        json!({}),
        &ops,
    )
    .await;
    ok(
        &app,
        "mutation { startExperiment(id: \"audited\") { id } }",
        json!({}),
        &ops,
    )
    .await;
    ok(
        &app,
        "mutation { stopExperiment(id: \"audited\") { id } }",
        json!({}),
        &ops,
    )
    .await;

    // And roll the recommender back to the version it serves.
    let models = ok(&app, "{ recommenderModels { serving } }", json!({}), &ops).await;
    let version = models["recommenderModels"]["serving"]
        .as_str()
        .expect("a first model is trained at start")
        .to_owned();
    ok(
        &app,
        "mutation($v: String!) { rollbackRecommender(version: $v) { serving } }",
        json!({"v": version}),
        &ops,
    )
    .await;

    let entries = log(&app, &ops, json!({"first": 50})).await;
    let seen = actions(&entries);
    for action in [
        "support.conversation.read",
        "support.conversation.claim",
        "support.ticket.read",
        "faq.put",
        "faq.delete",
        "experiment.create",
        "experiment.start",
        "experiment.stop",
        "recommender.rollback",
    ] {
        assert!(seen.contains(&action), "{action} missing from {seen:?}");
    }
    // Newest first, one chain: each entry names the hash of the one before it.
    let seqs: Vec<u64> = entries
        .iter()
        .map(|e| e["seq"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
    for pair in entries.windows(2) {
        assert_eq!(pair[0]["prevHash"], pair[1]["hash"]);
    }
    let read = entries
        .iter()
        .find(|e| e["action"] == "support.conversation.read")
        .unwrap();
    assert_eq!(read["actor"], "sam");
    assert_eq!(read["roles"], json!(["agent"]));
    assert_eq!(read["subject"], "alice");
    assert_eq!(read["target"], conversation.as_str());

    // Filters and pages.
    let by_sam = log(&app, &ops, json!({"first": 50, "actor": "sam"})).await;
    assert!(by_sam.iter().all(|e| e["actor"] == "sam") && !by_sam.is_empty());
    let about_alice = log(&app, &ops, json!({"first": 50, "subject": "alice"})).await;
    assert!(
        about_alice.iter().all(|e| e["subject"] == "alice") && about_alice.len() >= 3,
        "{about_alice:?}"
    );
    let first_page = log(&app, &ops, json!({"first": 2})).await;
    let next_page = log(
        &app,
        &ops,
        json!({"first": 2, "after": first_page[1]["seq"]}),
    )
    .await;
    assert_eq!(next_page[0]["seq"], entries[2]["seq"]);
    let (_, bad) = app
        .graphql(LOG, json!({"first": 2, "after": "x"}), Some(&ops))
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}
