//! The support desk over the API: a customer's message gets a pushed, grounded reply (in
//! their language, with their account facts); asking for a person hands off and an agent's
//! reply reaches the customer; nobody else reads or writes a conversation; bad messages get a
//! clear error; agents see the queue, claim and resolve, and the customer rates (CSAT). The
//! app runs lexical retrieval (no model files), as on a machine without
//! `make models`.

use serde_json::{Value, json};

use crate::helpers::{PATIENCE, TestApp, Ws, spawn_app};

const TRANSPORT: &str = "graphql-transport-ws";

const CHAT: &str = "subscription($id: ID!) { chat(conversationId: $id) { \
    message { id author authorId text language evidence } \
    conversation { status agent language } } }";

const SEND: &str = "mutation($id: ID, $text: String!) { \
    sendMessage(conversationId: $id, text: $text) { id conversationId author } }";

pub(crate) fn agent_token(app: &TestApp, user: &str) -> String {
    app.token_with_role(user, finpulse_graph::Role::Agent)
}

/// Opens a conversation for the token's customer; returns its id.
pub(crate) async fn start(app: &TestApp, token: &str, language: Option<&str>) -> String {
    let (_, body) = app
        .graphql(
            "mutation($language: String) { startConversation(language: $language) { id status } }",
            json!({ "language": language }),
            Some(token),
        )
        .await;
    assert_eq!(
        body["data"]["startConversation"]["status"], "OPEN",
        "{body}"
    );
    body["data"]["startConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A socket subscribed to the conversation's chat, as `token`.
async fn chat(app: &TestApp, token: &str, conversation: &str) -> Ws {
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(Some(token)).await;
    ws.subscribe("chat", CHAT, json!({ "id": conversation }))
        .await;
    app.wait_for_subscribers(&format!("support.chat.{conversation}"), 1)
        .await;
    ws
}

pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    conversation: Option<&str>,
    text: &str,
) -> Value {
    let (_, body) = app
        .graphql(
            SEND,
            json!({ "id": conversation, "text": text }),
            Some(token),
        )
        .await;
    body
}

/// The next chat event's `chat` object.
async fn next_event(ws: &mut Ws) -> Value {
    let message = tokio::time::timeout(PATIENCE, ws.recv_skip_ka())
        .await
        .expect("a chat event in time");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["chat"].clone()
}

/// Chat events until one from `author`.
async fn next_from(ws: &mut Ws, author: &str) -> Value {
    loop {
        let event = next_event(ws).await;
        if event["message"]["author"] == author {
            return event;
        }
    }
}

pub(crate) fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn a_customer_gets_a_grounded_reply_in_their_language_pushed() {
    let app = spawn_app().await;
    // `alice` is the first demo customer: Alex Morgan, with an active card.
    let token = app.token("alice", None);
    let conversation = start(&app, &token, Some("en-GB")).await;
    let mut ws = chat(&app, &token, &conversation).await;
    let sent = send(
        &app,
        &token,
        Some(&conversation),
        "Why was my card payment declined at the checkout?",
    )
    .await;
    assert_eq!(sent["data"]["sendMessage"]["author"], "CUSTOMER", "{sent}");
    let echoed = next_from(&mut ws, "CUSTOMER").await;
    assert_eq!(echoed["message"]["id"], sent["data"]["sendMessage"]["id"]);
    let reply = next_from(&mut ws, "BOT").await;
    let text = reply["message"]["text"].as_str().unwrap();
    assert!(text.starts_with("Hi Alex,"), "{text}");
    assert!(
        text.contains("Card payments are declined when the card is blocked or frozen"),
        "{text}"
    );
    assert!(text.contains("active (card ending"), "{text}");
    assert_eq!(
        reply["message"]["evidence"],
        Value::Null,
        "a customer sees no evidence"
    );
    assert_eq!(reply["conversation"]["status"], "OPEN");

    // The same conversation through an agent's eyes: the bot's evidence is there.
    let agent = agent_token(&app, "agent-1");
    let (_, body) = app
        .graphql(
            "query($id: ID!) { conversation(id: $id) { customer messages { author evidence } } }",
            json!({ "id": conversation }),
            Some(&agent),
        )
        .await;
    let messages = body["data"]["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{body}");
    let evidence = &messages[1]["evidence"];
    assert_eq!(evidence["decision"], "answer", "{body}");
    assert_eq!(evidence["answered_from"], "card-declined");
    assert_eq!(evidence["intent"], "card_payment_failed");
    assert_eq!(evidence["language"], "en");
    assert!(evidence["entries"].as_array().unwrap().len() >= 2);

    // German, in a new conversation opened by the first message itself.
    let sent = send(
        &app,
        &token,
        None,
        "Warum wurde meine Kartenzahlung abgelehnt?",
    )
    .await;
    let german = sent["data"]["sendMessage"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = tokio::time::timeout(PATIENCE, async {
        loop {
            let (_, body) = app
                .graphql(
                    "query($id: ID!) { conversation(id: $id) { messages { author text language } } }",
                    json!({ "id": german }),
                    Some(&token),
                )
                .await;
            let bot = body["data"]["conversation"]["messages"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["author"] == "BOT").cloned());
            if let Some(bot) = bot {
                return bot;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the German reply is kept");
    assert_eq!(reply["language"], "de");
    let text = reply["text"].as_str().unwrap();
    assert!(text.starts_with("Hallo Alex,"), "{text}");
    assert!(text.contains("Kartenzahlungen werden abgelehnt"), "{text}");
    let (_, body) = app
        .graphql("{ conversations { id } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        body["data"]["conversations"].as_array().unwrap().len(),
        2,
        "{body}"
    );
}

#[tokio::test]
async fn customers_writing_at_once_are_each_answered_in_their_own_order() {
    // The desk answers several conversations at once; within one, a message is answered
    // before the next is handled, so each customer reads question, answer, question.
    let app = spawn_app().await;
    let mut customers = Vec::new();
    for user in ["alice", "bob", "carol"] {
        let token = app.token(user, None);
        let conversation = start(&app, &token, Some("en-GB")).await;
        let ws = chat(&app, &token, &conversation).await;
        customers.push((token, conversation, ws));
    }
    // Every message is sent before any reply is read: they reach the processor together.
    let mut sent = Vec::new();
    for (token, conversation, _) in &customers {
        let first = send(
            &app,
            token,
            Some(conversation),
            "Why was my card payment declined at the checkout?",
        )
        .await;
        let second = send(
            &app,
            token,
            Some(conversation),
            "And can I unfreeze it myself?",
        )
        .await;
        sent.push([first, second].map(|b| b["data"]["sendMessage"]["id"].clone()));
    }
    for ((_, conversation, ws), [first, second]) in customers.iter_mut().zip(&sent) {
        let events = [
            next_event(ws).await,
            next_event(ws).await,
            next_event(ws).await,
        ];
        let authors: Vec<&Value> = events.iter().map(|e| &e["message"]["author"]).collect();
        assert_eq!(
            authors,
            ["CUSTOMER", "BOT", "CUSTOMER"],
            "{conversation}: {events:?}"
        );
        assert_eq!(events[0]["message"]["id"], *first);
        assert_eq!(events[2]["message"]["id"], *second);
        let answer = events[1]["message"]["text"].as_str().unwrap();
        assert!(
            answer.contains("Card payments are declined when the card is blocked or frozen"),
            "{conversation}: {answer}"
        );
    }
}

#[tokio::test]
async fn asking_for_a_person_hands_off_and_the_agents_reply_reaches_the_customer() {
    let app = spawn_app().await;
    let token = app.token("bob", None);
    let conversation = start(&app, &token, None).await;
    let mut customer = chat(&app, &token, &conversation).await;
    send(
        &app,
        &token,
        Some(&conversation),
        "I want to talk to a human",
    )
    .await;
    let handoff = next_from(&mut customer, "BOT").await;
    assert_eq!(
        handoff["conversation"]["status"], "WAITING_FOR_AGENT",
        "{handoff}"
    );
    assert!(
        handoff["message"]["text"]
            .as_str()
            .unwrap()
            .contains("handing you over"),
        "{handoff}"
    );

    let agent = agent_token(&app, "agent-7");
    let mut console = app.ws(TRANSPORT).await;
    console.init(Some(&agent)).await;
    console
        .subscribe("chat", CHAT, json!({ "id": conversation }))
        .await;
    app.wait_for_subscribers(&format!("support.chat.{conversation}"), 2)
        .await;
    let sent = send(
        &app,
        &agent,
        Some(&conversation),
        "Hello Bob, I'm looking at it now.",
    )
    .await;
    assert_eq!(sent["data"]["sendMessage"]["author"], "AGENT", "{sent}");
    let seen = next_from(&mut customer, "AGENT").await;
    assert_eq!(seen["message"]["text"], "Hello Bob, I'm looking at it now.");
    assert_eq!(seen["message"]["authorId"], "agent-7");
    assert_eq!(seen["conversation"]["status"], "WITH_AGENT");
    assert_eq!(seen["conversation"]["agent"], "agent-7");

    // With an agent on it, the bot stays quiet: the customer's next message reaches the agent
    // and nothing else follows it but the agent's next message.
    send(
        &app,
        &token,
        Some(&conversation),
        "Why was my card declined?",
    )
    .await;
    let from_customer = next_from(&mut console, "CUSTOMER").await;
    assert_eq!(
        from_customer["message"]["text"],
        "Why was my card declined?"
    );
    send(
        &app,
        &agent,
        Some(&conversation),
        "It was blocked after a fraud alert.",
    )
    .await;
    let next = next_event(&mut console).await;
    assert_eq!(
        next["message"]["author"], "AGENT",
        "the bot answered: {next}"
    );
}

#[tokio::test]
async fn nobody_else_reads_or_writes_a_conversation() {
    let app = spawn_app().await;
    let alice = app.token("alice", None);
    let conversation = start(&app, &alice, None).await;
    let mallory = app.token("mallory", None);
    let (_, body) = app
        .graphql(
            "query($id: ID!) { conversation(id: $id) { id } }",
            json!({ "id": conversation }),
            Some(&mallory),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let body = send(&app, &mallory, Some(&conversation), "let me in").await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let mut ws = app.ws(TRANSPORT).await;
    ws.init(Some(&mallory)).await;
    ws.subscribe("chat", CHAT, json!({ "id": conversation }))
        .await;
    let refused = ws.recv_skip_ka().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    // Their own list does not show it; signed out, nothing.
    let (_, body) = app
        .graphql("{ conversations { id } }", json!({}), Some(&mallory))
        .await;
    assert_eq!(body["data"]["conversations"], json!([]), "{body}");
    let (_, body) = app
        .graphql("{ conversations { id } }", json!({}), None)
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn bad_messages_get_a_clear_error() {
    let app = spawn_app().await;
    let token = app.token("carol", None);
    let conversation = start(&app, &token, None).await;
    for (text, needle) in [
        ("   ", "needs some text"),
        (&"x".repeat(4_001) as &str, "at most 4000 characters"),
        ("bell \u{7}", "control characters"),
    ] {
        let body = send(&app, &token, Some(&conversation), text).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}"
        );
    }
    let body = send(&app, &token, Some("no-such-conversation"), "hello").await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let (_, body) = app
        .graphql(
            "mutation { startConversation(language: \"not a language\") { id } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // A megabyte of text is refused before it is parsed; bytes that are not UTF-8 too.
    let huge =
        json!({ "query": SEND, "variables": { "id": conversation, "text": "y".repeat(1 << 20) } });
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let mut invalid = br#"{"query":"mutation { sendMessage(text: \""#.to_vec();
    invalid.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    invalid.extend_from_slice(br#"\") { id } }"}"#);
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_REQUEST", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid unicode"),
        "{body}"
    );
    // Nothing of it was kept.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { conversation(id: $id) { messages { id } } }",
            json!({ "id": conversation }),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["conversation"]["messages"],
        json!([]),
        "{body}"
    );
}

#[tokio::test]
async fn agents_see_the_queue_claim_resolve_and_the_customer_rates() {
    let app = spawn_app().await;
    let agent = agent_token(&app, "agent-3");
    let mut queue = app.ws(TRANSPORT).await;
    queue.init(Some(&agent)).await;
    queue
        .subscribe(
            "queue",
            "subscription { supportQueue { id status customer } }",
            json!({}),
        )
        .await;
    let first = tokio::time::timeout(PATIENCE, queue.recv_skip_ka())
        .await
        .expect("the queue now");
    assert_eq!(
        first["payload"]["data"]["supportQueue"],
        json!([]),
        "{first}"
    );
    app.wait_for_subscribers("support.queue", 1).await;

    let token = app.token("dave", None);
    let conversation = start(&app, &token, None).await;
    let mut customer = chat(&app, &token, &conversation).await;
    send(&app, &token, Some(&conversation), "agent please").await;
    let waiting = tokio::time::timeout(PATIENCE, queue.recv_skip_ka())
        .await
        .expect("the queue after the handoff");
    assert_eq!(
        waiting["payload"]["data"]["supportQueue"],
        json!([{ "id": conversation, "status": "WAITING_FOR_AGENT", "customer": "dave" }]),
        "{waiting}"
    );

    // A customer cannot claim; rating before resolution is refused.
    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { claimConversation(id: $id) { id } }",
            json!({ "id": conversation }),
            Some(&token),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let rate =
        "mutation($id: ID!, $score: Int!) { rateConversation(id: $id, score: $score) { id } }";
    let (_, body) = app
        .graphql(
            rate,
            json!({ "id": conversation, "score": 5 }),
            Some(&token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    let (_, body) = app
        .graphql(
            "mutation($id: ID!) { claimConversation(id: $id) { author } }",
            json!({ "id": conversation }),
            Some(&agent),
        )
        .await;
    assert_eq!(
        body["data"]["claimConversation"]["author"], "AGENT",
        "{body}"
    );
    let claimed = next_from(&mut customer, "AGENT").await;
    assert_eq!(claimed["conversation"]["status"], "WITH_AGENT", "{claimed}");
    assert_eq!(claimed["conversation"]["agent"], "agent-3");
    let emptied = tokio::time::timeout(PATIENCE, queue.recv_skip_ka())
        .await
        .expect("the queue after the claim");
    assert_eq!(
        emptied["payload"]["data"]["supportQueue"],
        json!([]),
        "{emptied}"
    );

    app.graphql(
        "mutation($id: ID!) { resolveConversation(id: $id) { id } }",
        json!({ "id": conversation }),
        Some(&agent),
    )
    .await;
    let resolved = next_from(&mut customer, "AGENT").await;
    assert_eq!(resolved["conversation"]["status"], "RESOLVED", "{resolved}");
    let (_, body) = app
        .graphql(
            rate,
            json!({ "id": conversation, "score": 6 }),
            Some(&token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = app
        .graphql(
            rate,
            json!({ "id": conversation, "score": 4 }),
            Some(&token),
        )
        .await;
    assert!(body["data"]["rateConversation"]["id"].is_string(), "{body}");
    let rated = next_from(&mut customer, "CUSTOMER").await;
    assert_eq!(rated["conversation"]["status"], "RESOLVED", "{rated}");
    let summary = "{ csatSummary { resolved ratings average counts } }";
    let (_, body) = app.graphql(summary, json!({}), Some(&agent)).await;
    assert_eq!(
        body["data"]["csatSummary"],
        json!({ "resolved": 1, "ratings": 1, "average": 4.0, "counts": [0, 0, 0, 1, 0] }),
        "{body}"
    );
    let (_, body) = app.graphql(summary, json!({}), Some(&token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Rated once only.
    let (_, body) = app
        .graphql(
            rate,
            json!({ "id": conversation, "score": 1 }),
            Some(&token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}
