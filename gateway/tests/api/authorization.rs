//! The authorization matrix (`docs/authorization.md`) against the running server: every query,
//! mutation and subscription field the schema serves, and the fields agents alone may read,
//! called as each kind of caller, over HTTP (queries, mutations) and WebSocket
//! (subscriptions). A field the schema serves that the table lacks fails, and so does a row
//! for a field that is gone, or an outcome other than the table's.
//!
//! An outcome is `ok` when authorization let the call through: no error, or an error about
//! the call itself (`BAD_USER_INPUT` for a conversation in the wrong state, `UNAVAILABLE` for
//! a model that is off). Otherwise it is the refusal's code: `UNAUTHENTICATED`, `FORBIDDEN`,
//! or `NOT_FOUND` for another customer's conversation or ticket, which must not even be
//! confirmed to exist.

use std::collections::BTreeSet;
use std::time::Duration;

use finpulse_graph::Role;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, Ws, eventually, spawn_app};

/// The callers, in the table's column order.
const CALLERS: [&str; 6] = [
    "anonymous",
    "customer",
    "owner",
    "other customer",
    "agent",
    "admin",
];

/// How long a subscription that was let through may stay silent before it counts as running:
/// a refusal is the server's first answer, within milliseconds; this bounds a broken server.
const SUBSCRIPTION_QUIET: Duration = Duration::from_secs(3);

/// Codes that are refusals; any other outcome means the call was let through.
const REFUSALS: [&str; 3] = ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"];

/// What one call of a field looks like: its document, and whether it acts on the owner's
/// conversation or ticket (then the `owner` and `other customer` columns apply, not
/// `customer`).
struct Sample {
    document: &'static str,
    on_owned: bool,
}

fn sample(field: &str) -> Option<Sample> {
    let general = |document| {
        Some(Sample {
            document,
            on_owned: false,
        })
    };
    let owned = |document| {
        Some(Sample {
            document,
            on_owned: true,
        })
    };
    match field {
        "Query.symbols" => general("{ symbols }"),
        "Query.quote" => general("{ quote(symbol: \"AAPL\") { price } }"),
        "Query.candles" => general("{ candles(symbol: \"AAPL\") { open } }"),
        "Query.insights" => general("{ insights(symbol: \"AAPL\") { kind } }"),
        "Query.insightsSince" => {
            general("{ insightsSince(since: \"2026-01-01T00:00:00Z\") { kind } }")
        }
        "Query.quotes" => general("{ quotes(symbols: [\"AAPL\"]) { price } }"),
        "Query.watchlist" => general("{ watchlist }"),
        "Query.me" => general("{ me }"),
        "Query.summarize" => general("{ summarize(text: \"One. Two. Three.\") }"),
        "Query.detectLanguage" => general("{ detectLanguage(text: \"hello there\") { code } }"),
        "Query.models" => general("{ models { name } }"),
        "Query.recommendations" => general("{ recommendations { id } }"),
        "Query.recommenderModels" => general("{ recommenderModels { serving } }"),
        "Query.items" => general("{ items(first: 1) { id } }"),
        "Query.item" => general("query($item: String!) { item(id: $item) { id } }"),
        "Query.similarItems" => general("query($item: String!) { similarItems(id: $item) { id } }"),
        "Query.experiments" => general("{ experiments { id } }"),
        "Query.recommendationStrategies" => general("{ recommendationStrategies }"),
        "Query.experimentResults" => {
            general("query($exp: String!) { experimentResults(id: $exp) { experiment { id } } }")
        }
        "Query.conversations" => general("{ conversations { id } }"),
        "Query.csatSummary" => general("{ csatSummary { resolved } }"),
        "Query.supportAgents" => general("{ supportAgents }"),
        "Query.conversation" => owned("query($conv: ID!) { conversation(id: $conv) { id } }"),
        "Query.faqEntries" => general("{ faqEntries { id } }"),
        "Query.tickets" => general("{ tickets { id } }"),
        "Query.ticket" => owned("query($ticket: ID!) { ticket(id: $ticket) { id } }"),
        "Ticket.sentiment" => owned("query($ticket: ID!) { ticket(id: $ticket) { sentiment } }"),
        "Ticket.tier" => owned("query($ticket: ID!) { ticket(id: $ticket) { tier } }"),
        "Ticket.priorityReasons" => {
            owned("query($ticket: ID!) { ticket(id: $ticket) { priorityReasons } }")
        }
        "Ticket.categoryConfidence" => {
            owned("query($ticket: ID!) { ticket(id: $ticket) { categoryConfidence } }")
        }
        "Ticket.needsTriage" => {
            owned("query($ticket: ID!) { ticket(id: $ticket) { needsTriage } }")
        }
        "Mutation.addToWatchlist" => general("mutation { addToWatchlist(symbol: \"AAPL\") }"),
        "Mutation.removeFromWatchlist" => {
            general("mutation { removeFromWatchlist(symbol: \"AAPL\") }")
        }
        "Mutation.retrainRecommender" => general("mutation { retrainRecommender { serving } }"),
        "Mutation.rollbackRecommender" => general(
            "mutation($version: String!) { rollbackRecommender(version: $version) { serving } }",
        ),
        "Mutation.trackInteraction" => {
            general("mutation($item: String!) { trackInteraction(itemId: $item, kind: VIEW) }")
        }
        "Mutation.createExperiment" => general(
            "mutation { createExperiment(input: { id: \"matrix-created\", mode: AB_TEST, \
             variants: [{ name: \"a\", strategy: \"collaborative\", weight: 1 }, \
             { name: \"b\", strategy: \"popularity\", weight: 1 }] }) { id } }",
        ),
        "Mutation.startExperiment" => {
            general("mutation($exp: String!) { startExperiment(id: $exp) { id } }")
        }
        "Mutation.stopExperiment" => {
            general("mutation($exp: String!) { stopExperiment(id: $exp) { id } }")
        }
        "Mutation.archiveExperiment" => {
            general("mutation($exp: String!) { archiveExperiment(id: $exp) { id } }")
        }
        "Mutation.startConversation" => general("mutation { startConversation { id } }"),
        "Mutation.sendMessage" => owned(
            "mutation($conv: ID!) { sendMessage(conversationId: $conv, text: \"hello\") { id } }",
        ),
        "Mutation.claimConversation" => {
            owned("mutation($conv: ID!) { claimConversation(id: $conv) { id } }")
        }
        "Mutation.transferConversation" => {
            owned("mutation($conv: ID!) { transferConversation(id: $conv, to: \"sam\") { id } }")
        }
        "Mutation.resolveConversation" => {
            owned("mutation($conv: ID!) { resolveConversation(id: $conv) { id } }")
        }
        "Mutation.rateConversation" => {
            owned("mutation($conv: ID!) { rateConversation(id: $conv, score: 5) { id } }")
        }
        "Mutation.putFaqEntry" => general(
            "mutation { putFaqEntry(entry: { id: \"matrix-entry\", language: \"en\", \
             questions: [\"What does the matrix test?\"], answer: \"Who may call what.\" }) \
             { id } }",
        ),
        "Mutation.deleteFaqEntry" => {
            general("mutation { deleteFaqEntry(id: \"matrix-entry\", language: \"en\") }")
        }
        "Mutation.createTicket" => general(
            "mutation { createTicket(subject: \"Card\", text: \"My card is blocked\") { id } }",
        ),
        "Query.auditLog" => general("{ auditLog(first: 5) { seq action } }"),
        "Subscription.ticks" => general("subscription { ticks(symbols: [\"AAPL\"]) { price } }"),
        "Subscription.candles" => general("subscription { candles(symbol: \"AAPL\") { open } }"),
        "Subscription.insights" => general("subscription { insights { kind } }"),
        "Subscription.watchlistInsights" => general("subscription { watchlistInsights { kind } }"),
        "Subscription.recommendations" => general("subscription { recommendations { id } }"),
        "Subscription.experimentResults" => general(
            "subscription($exp: String!) { experimentResults(id: $exp) { experiment { id } } }",
        ),
        "Subscription.supportQueue" => general("subscription { supportQueue { id } }"),
        "Subscription.chat" => {
            owned("subscription($conv: ID!) { chat(conversationId: $conv) { message { id } } }")
        }
        "Subscription.ticketUpdates" => general("subscription { ticketUpdates { change } }"),
        _ => None,
    }
}

/// Object fields that are not root fields but have a rule of their own, checked like them.
const GUARDED_OBJECT_FIELDS: [&str; 5] = [
    "Ticket.sentiment",
    "Ticket.tier",
    "Ticket.priorityReasons",
    "Ticket.categoryConfidence",
    "Ticket.needsTriage",
];

/// `docs/authorization.md`, in its order (the calls are made in it: `putFaqEntry` before
/// `deleteFaqEntry`): field and the outcome per caller (`None` where a column does not apply,
/// `—` in the table).
fn table() -> Vec<(String, Vec<Option<String>>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/authorization.md");
    let text = std::fs::read_to_string(path).expect("docs/authorization.md");
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| `Type.field` | … |` rows; the header and the rule are skipped.
        let Some(field) = cells
            .get(1)
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        assert_eq!(
            cells.len(),
            CALLERS.len() + 3,
            "`{field}` has {} cells, not one per caller: {line}",
            cells.len().saturating_sub(3)
        );
        let outcomes = cells[2..2 + CALLERS.len()]
            .iter()
            .map(|c| (*c != "—").then(|| c.to_string()))
            .collect();
        assert!(
            seen.insert(field.to_owned()),
            "`{field}` is in the table twice"
        );
        rows.push((field.to_owned(), outcomes));
    }
    rows
}

/// Every root field the server serves, as `Query.x`, `Mutation.x`, `Subscription.x`.
async fn served_fields(app: &TestApp) -> BTreeSet<String> {
    let (_, body) = app
        .graphql(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } \
             subscriptionType { fields { name } } } }",
            json!({}),
            None,
        )
        .await;
    let schema = &body["data"]["__schema"];
    let mut fields = BTreeSet::new();
    for (kind, key) in [
        ("Query", "queryType"),
        ("Mutation", "mutationType"),
        ("Subscription", "subscriptionType"),
    ] {
        for field in schema[key]["fields"].as_array().expect("fields") {
            fields.insert(format!("{kind}.{}", field["name"].as_str().unwrap()));
        }
    }
    fields
}

/// The outcome of a GraphQL response: `ok`, or the refusal's code.
fn outcome(body: &Value) -> String {
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    match codes.iter().find(|code| REFUSALS.contains(code)) {
        Some(code) => code.to_string(),
        None if body["errors"].is_array() && codes.is_empty() => {
            format!("error without a code: {}", body["errors"])
        }
        None => "ok".into(),
    }
}

/// The outcome of a subscription: the first answer if it is a refusal, else `ok` (the first
/// result, or silence while it waits for events).
async fn subscription_outcome(
    app: &TestApp,
    token: Option<&str>,
    document: &str,
    variables: Value,
) -> String {
    let mut ws = Ws::connect(app.port, Some("graphql-transport-ws"), None).await;
    ws.init(token).await;
    ws.subscribe("1", document, variables).await;
    let first = tokio::time::timeout(SUBSCRIPTION_QUIET, async {
        loop {
            match ws.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).expect("JSON");
                    match message["type"].as_str() {
                        Some("ping") | Some("pong") => continue,
                        _ => return Some(message),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    match first {
        // Silent: running, waiting for events.
        Err(_) => "ok".into(),
        Ok(None) => "the socket closed".into(),
        Ok(Some(message)) => match message["type"].as_str() {
            Some("next") => outcome(&message["payload"]),
            Some("error") => outcome(&json!({"errors": message["payload"]})),
            _ => format!("unexpected {message}"),
        },
    }
}

/// The tokens: `customer` and `owner` are the same customer (alice owns the conversation and
/// ticket), `other customer` is bob, the agent sam, the operator ops.
fn tokens(app: &TestApp) -> Vec<Option<String>> {
    vec![
        None,
        Some(app.token_with_role("alice", Role::Customer)),
        Some(app.token_with_role("alice", Role::Customer)),
        Some(app.token_with_role("bob", Role::Customer)),
        Some(app.token_with_role("sam", Role::Agent)),
        Some(app.token_with_role("ops", Role::Admin)),
    ]
}

/// The owner's conversation and ticket, an experiment and a model version to act on, and an
/// item of the catalogue.
async fn fixtures(app: &TestApp, tokens: &[Option<String>]) -> Value {
    let alice = tokens[1].as_deref();
    let ops = tokens[5].as_deref();
    let (_, started) = app
        .graphql("mutation { startConversation { id } }", json!({}), alice)
        .await;
    let conv = started["data"]["startConversation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a conversation: {started}"))
        .to_owned();
    let (_, created) = app
        .graphql(
            "mutation { createTicket(subject: \"Payment\", text: \"A payment of mine is missing\") { id } }",
            json!({}),
            alice,
        )
        .await;
    let ticket = created["data"]["createTicket"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a ticket: {created}"))
        .to_owned();
    // The processor triages it into a ticket.
    let sam = tokens[4].clone();
    eventually("the ticket is triaged", || {
        let (app, sam, ticket) = (app, sam.clone(), ticket.clone());
        async move {
            let (_, body) = app
                .graphql(
                    "query($id: ID!) { ticket(id: $id) { id } }",
                    json!({"id": ticket}),
                    sam.as_deref(),
                )
                .await;
            body["data"]["ticket"]["id"].is_string()
        }
    })
    .await;
    let (_, experiment) = app
        .graphql(
            "mutation { createExperiment(input: { id: \"matrix\", mode: AB_TEST, variants: \
             [{ name: \"a\", strategy: \"collaborative\", weight: 1 }, \
             { name: \"b\", strategy: \"popularity\", weight: 1 }] }) { id } }",
            json!({}),
            ops,
        )
        .await;
    assert!(experiment["errors"].is_null(), "{experiment}");
    let (_, models) = app
        .graphql(
            "{ recommenderModels { serving kept { version } } }",
            json!({}),
            ops,
        )
        .await;
    let version = models["data"]["recommenderModels"]["serving"]
        .as_str()
        .or_else(|| models["data"]["recommenderModels"]["kept"][0]["version"].as_str())
        .unwrap_or_else(|| panic!("a recommender version: {models}"))
        .to_owned();
    let (_, items) = app
        .graphql("{ items(first: 1) { id } }", json!({}), None)
        .await;
    let item = items["data"]["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an item: {items}"))
        .to_owned();
    json!({"conv": conv, "ticket": ticket, "exp": "matrix", "version": version, "item": item})
}

/// Only the variables a document declares (GraphQL refuses unknown ones).
fn variables_for(document: &str, all: &Value) -> Value {
    let mut used = serde_json::Map::new();
    for (name, value) in all.as_object().expect("an object") {
        if document.contains(&format!("${name}")) {
            used.insert(name.clone(), value.clone());
        }
    }
    Value::Object(used)
}

#[tokio::test]
async fn every_field_answers_every_caller_as_the_authorization_matrix_says() {
    let app = spawn_app().await;
    let expected = table();
    let served = served_fields(&app).await;
    let mut problems = Vec::new();
    let listed: BTreeSet<&String> = expected.iter().map(|(field, _)| field).collect();
    for field in &served {
        if !listed.contains(field) {
            problems.push(format!(
                "`{field}` is served but not in docs/authorization.md: add its row"
            ));
        }
    }
    for field in listed {
        if !served.contains(field) && !GUARDED_OBJECT_FIELDS.contains(&field.as_str()) {
            problems.push(format!(
                "`{field}` is in docs/authorization.md but not served: remove its row"
            ));
        }
    }
    let tokens = tokens(&app);
    let variables = fixtures(&app, &tokens).await;
    // Queries and mutations one call at a time, in the table's order (a mutation may need
    // what an earlier one made); subscriptions all at once, each on its own socket, as they
    // change nothing and a let-through one is only known by its quiet.
    let mut observed: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut live = Vec::new();
    for (field, _) in &expected {
        let Some(sample) = sample(field) else {
            problems.push(format!(
                "`{field}` has no sample call in tests/api/authorization.rs"
            ));
            observed.push((field.clone(), vec![None; CALLERS.len()]));
            continue;
        };
        let vars = variables_for(sample.document, &variables);
        let mut row = Vec::new();
        for (column, caller) in CALLERS.iter().enumerate() {
            let applies = match *caller {
                "owner" | "other customer" => sample.on_owned,
                "customer" => !sample.on_owned,
                _ => true,
            };
            if !applies {
                row.push(None);
                continue;
            }
            let token = tokens[column].as_deref();
            if field.starts_with("Subscription.") {
                live.push((
                    observed.len(),
                    column,
                    subscription_outcome(&app, token, sample.document, vars.clone()),
                ));
                row.push(None);
            } else {
                let (_, body) = app.graphql(sample.document, vars.clone(), token).await;
                row.push(Some(outcome(&body)));
            }
        }
        observed.push((field.clone(), row));
    }
    let (places, calls): (Vec<_>, Vec<_>) = live
        .into_iter()
        .map(|(row, column, call)| ((row, column), call))
        .unzip();
    for ((row, column), got) in places
        .into_iter()
        .zip(futures::future::join_all(calls).await)
    {
        observed[row].1[column] = Some(got);
    }
    for ((field, want_row), (_, got_row)) in expected.iter().zip(&observed) {
        for (column, (want, got)) in want_row.iter().zip(got_row).enumerate() {
            if want != got {
                problems.push(format!(
                    "`{field}` as {}: the table says {}, the server answered {}",
                    CALLERS[column],
                    want.as_deref().unwrap_or("—"),
                    got.as_deref().unwrap_or("—"),
                ));
            }
        }
    }
    if !problems.is_empty() {
        let mut table = String::new();
        for (field, row) in &observed {
            let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("—")).collect();
            table.push_str(&format!("| `{field}` | {} |\n", cells.join(" | ")));
        }
        panic!(
            "{} mismatches:\n{}\n\nobserved:\n{table}",
            problems.len(),
            problems.join("\n")
        );
    }
}
