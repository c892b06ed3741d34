//! The knowledge base edited live over the API: an operator writes an entry and the desk
//! answers from it moments later, without a restart; removing it takes it out of the answers;
//! only operators may read or edit the FAQ, and a bad entry is refused with the reason.

use serde_json::{Value, json};

use crate::helpers::{PATIENCE, TestApp, spawn_app};
use crate::support::{code, send};

const PUT: &str =
    "mutation($entry: FaqEntryInput!) { putFaqEntry(entry: $entry) { id language questions } }";

/// Asks `question` in a new conversation and returns the bot's reply.
async fn bot_reply(app: &TestApp, token: &str, question: &str) -> String {
    let sent = send(app, token, None, question).await;
    let conversation = sent["data"]["sendMessage"]["conversationId"]
        .as_str()
        .unwrap_or_else(|| panic!("{sent}"))
        .to_owned();
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (_, body) = app
                .graphql(
                    "query($id: ID!) { conversation(id: $id) { messages { author text } } }",
                    json!({ "id": conversation }),
                    Some(token),
                )
                .await;
            let bot = body["data"]["conversation"]["messages"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["author"] == "BOT").cloned());
            if let Some(bot) = bot {
                return bot["text"].as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the bot replies")
}

/// Asks until the reply satisfies `wanted` (the desk re-indexes moments after an edit).
async fn reply_until(app: &TestApp, token: &str, question: &str, wanted: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let reply = bot_reply(app, token, question).await;
        if wanted(&reply) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the desk still answers {question:?} with {reply:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn zebra() -> Value {
    json!({
        "id": "zebra-card-design",
        "language": "en",
        "intent": "card_design",
        "tags": ["cards"],
        "questions": [
            "How do I order the zebra striped card design?",
            "Can I get a card with zebra stripes?"
        ],
        "answer": "Zebra-striped cards are ordered in the app under Cards, then Design; the new card costs nothing."
    })
}

#[tokio::test]
async fn operators_edit_the_faq_and_the_desk_answers_from_it_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token("ops");
    let customer = app.token("alice", None);
    let question = "How can I order a zebra striped card design?";
    // The shipped FAQ knows nothing of zebras.
    let before = bot_reply(&app, &customer, question).await;
    assert!(!before.contains("Zebra-striped"), "{before}");

    let (_, body) = app
        .graphql(PUT, json!({ "entry": zebra() }), Some(&admin))
        .await;
    assert_eq!(
        body["data"]["putFaqEntry"]["id"], "zebra-card-design",
        "{body}"
    );
    reply_until(&app, &customer, question, |reply| {
        reply.contains("Zebra-striped cards are ordered in the app")
    })
    .await;
    let (_, body) = app
        .graphql(
            "{ faqEntries(language: \"en\") { id intent questions } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let entries = body["data"]["faqEntries"].as_array().unwrap();
    assert!(entries.len() > 60, "the shipped ones too: {body}");
    assert!(
        entries
            .iter()
            .any(|e| e["id"] == "zebra-card-design" && e["intent"] == "card_design"),
        "{body}"
    );

    // A changed answer is served too.
    let mut changed = zebra();
    changed["answer"] =
        json!("Zebra designs are back in stock: order them in the app under Cards.");
    let (_, body) = app
        .graphql(PUT, json!({ "entry": changed }), Some(&admin))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    reply_until(&app, &customer, question, |reply| {
        reply.contains("Zebra designs are back in stock")
    })
    .await;

    // Removed: no longer answered from it.
    let remove = "mutation($id: String!) { deleteFaqEntry(id: $id) }";
    let (_, body) = app
        .graphql(remove, json!({ "id": "zebra-card-design" }), Some(&admin))
        .await;
    assert_eq!(body["data"]["deleteFaqEntry"], 1, "{body}");
    reply_until(&app, &customer, question, |reply| !reply.contains("Zebra")).await;
    let (_, body) = app
        .graphql(remove, json!({ "id": "zebra-card-design" }), Some(&admin))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn only_operators_edit_the_faq_and_bad_entries_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token("ops");
    let customer = app.token("alice", None);
    let (_, body) = app
        .graphql(PUT, json!({ "entry": zebra() }), Some(&customer))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let (_, body) = app
        .graphql("{ faqEntries { id } }", json!({}), Some(&customer))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let (_, body) = app
        .graphql(
            "mutation { deleteFaqEntry(id: \"card-declined\") }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    for (field, value, reason) in [
        ("questions", json!([]), "at least one question"),
        ("questions", json!(["   "]), "a question is empty"),
        ("language", json!("English"), "ISO 639"),
        ("answer", json!(""), "the answer is empty"),
        ("answer", json!("x".repeat(9_000)), "longer than 8000 bytes"),
        ("id", json!(""), "id must be"),
        ("tags", json!(vec!["t"; 40]), "at most 32 tags"),
    ] {
        let mut entry = zebra();
        entry[field] = value;
        let (_, body) = app
            .graphql(PUT, json!({ "entry": entry }), Some(&admin))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{field}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{field}: {message}");
    }
    // Nothing of those was kept.
    let (_, body) = app
        .graphql("{ faqEntries { id } }", json!({}), Some(&admin))
        .await;
    assert!(
        !body["data"]["faqEntries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == "zebra-card-design"),
        "{body}"
    );
}
