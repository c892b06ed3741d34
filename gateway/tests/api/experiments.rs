//! Experiments through the API: operators define and run them, customers' lists carry their
//! variant, shown lists and what customers did with them add up to the results, live.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const CREATE: &str = "mutation($input: ExperimentInput!) { createExperiment(input: $input) { id status mode variants { name strategy weight } } }";
const RESULTS: &str = "query($id: String!) { experimentResults(id: $id) { experiment { id status } variants { name strategy counts { impressions clicks conversions dismissals } ctr { value low high } conversion { value } pValue share } traffic { variant impressions share } bucketSecs } }";
const LIST: &str = "{ recommendations(first: 5) { id items { item { id } recommendationId } provenance { strategy experiment variant featureSets } } }";

fn ab_test(id: &str) -> Value {
    json!({"input": {
        "id": id,
        "description": "personal against popular",
        "mode": "AB_TEST",
        "variants": [
            {"name": "control", "strategy": "collaborative", "weight": 1.0},
            {"name": "popular", "strategy": "popularity", "weight": 1.0}
        ]
    }})
}

async fn call(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    app.graphql(query, variables, Some(token)).await.1
}

async fn lifecycle(app: &TestApp, admin: &str, verb: &str, id: &str) -> Value {
    let mutation =
        format!("mutation($id: String!) {{ {verb}Experiment(id: $id) {{ id status }} }}");
    call(app, &mutation, json!({"id": id}), admin).await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// Polls the results until `done` holds (the processor attributes outcomes asynchronously).
async fn results_until(
    app: &TestApp,
    admin: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let body = call(app, RESULTS, json!({"id": id}), admin).await;
        let results = body["data"]["experimentResults"].clone();
        if done(&results) || tokio::time::Instant::now() > deadline {
            return results;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn variant<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variant {name}: {results}"))
}

#[tokio::test]
async fn operators_run_an_experiment_and_its_results_follow_what_customers_do() {
    let app = spawn_app().await;
    let admin = app.admin_token("ops");
    let customer = app.token("alice", None);

    // Customers may not touch experiments.
    let body = call(&app, CREATE, ab_test("spring"), &customer).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = call(&app, "{ experiments { id } }", json!({}), &customer).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Bad definitions are refused with a reason.
    let mut unknown = ab_test("bad");
    unknown["input"]["variants"][1]["strategy"] = json!("magic");
    let body = call(&app, CREATE, unknown, &admin).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("magic"),
        "{body}"
    );
    let mut lonely = ab_test("bad");
    lonely["input"]["variants"] = json!([{"name": "a", "strategy": "popularity", "weight": 1.0}]);
    assert_eq!(
        code(&call(&app, CREATE, lonely, &admin).await),
        "BAD_USER_INPUT"
    );

    let body = call(&app, CREATE, ab_test("spring"), &admin).await;
    assert_eq!(
        body["data"]["createExperiment"]["status"], "DRAFT",
        "{body}"
    );
    let body = call(&app, CREATE, ab_test("spring"), &admin).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "a taken id: {body}");
    let body = call(&app, "{ recommendationStrategies }", json!({}), &admin).await;
    assert_eq!(
        body["data"]["recommendationStrategies"],
        json!(["collaborative", "no-diversity", "popularity", "ranked"])
    );

    // A draft changes nothing for customers.
    let body = call(&app, LIST, json!({}), &customer).await;
    let provenance = &body["data"]["recommendations"]["provenance"];
    assert_eq!(provenance["strategy"], "collaborative", "{body}");
    assert_eq!(provenance["experiment"], Value::Null);

    let body = lifecycle(&app, &admin, "start", "spring").await;
    assert_eq!(
        body["data"]["startExperiment"]["status"], "RUNNING",
        "{body}"
    );
    let body = call(&app, CREATE, ab_test("autumn"), &admin).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = lifecycle(&app, &admin, "start", "autumn").await;
    assert_eq!(
        code(&body),
        "BAD_USER_INPUT",
        "one experiment at a time: {body}"
    );
    let body = lifecycle(&app, &admin, "stop", "nope").await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // The customer's lists now come from their variant, the same one each time (A/B by hash).
    let body = call(&app, LIST, json!({}), &customer).await;
    let list = body["data"]["recommendations"].clone();
    let chosen = list["provenance"]["variant"].as_str().unwrap().to_owned();
    assert_eq!(list["provenance"]["experiment"], "spring", "{body}");
    let strategy = if chosen == "control" {
        "collaborative"
    } else {
        "popularity"
    };
    assert_eq!(list["provenance"]["strategy"], strategy);
    // Popularity ranks by the feature store's recent engagement, and says so.
    let feature_sets = if chosen == "control" {
        json!([])
    } else {
        json!(["item_popularity@1"])
    };
    assert_eq!(list["provenance"]["featureSets"], feature_sets, "{list}");
    for _ in 0..3 {
        let again = call(&app, LIST, json!({}), &customer).await;
        assert_eq!(
            again["data"]["recommendations"]["provenance"]["variant"],
            chosen.as_str()
        );
    }

    // Four lists shown; the customer opens an item of the first.
    let shown_item = list["items"][0]["item"]["id"].as_str().unwrap().to_owned();
    let recommendation_id = list["id"].as_str().unwrap().to_owned();
    let click = "mutation($item: String!, $rec: String) { trackInteraction(itemId: $item, kind: CLICK, recommendationId: $rec) }";
    let body = call(
        &app,
        click,
        json!({"item": shown_item, "rec": recommendation_id}),
        &customer,
    )
    .await;
    assert_eq!(body["data"]["trackInteraction"], true, "{body}");
    let results = results_until(&app, &admin, "spring", |r| {
        r["variants"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| v["counts"]["clicks"] == 1))
    })
    .await;
    let counts = &variant(&results, &chosen)["counts"];
    assert_eq!(
        counts,
        &json!({"impressions": 4, "clicks": 1, "conversions": 1, "dismissals": 0}),
        "{results}"
    );
    let ctr = &variant(&results, &chosen)["ctr"];
    assert_eq!(ctr["value"], 0.25);
    assert!(ctr["low"].as_f64().unwrap() < 0.25 && ctr["high"].as_f64().unwrap() > 0.25);
    assert_eq!(variant(&results, &chosen)["share"], 1.0);
    assert_eq!(
        results["traffic"][0]["variant"],
        chosen.as_str(),
        "{results}"
    );

    // What does not count: another customer naming alice's list, and an item that was not in
    // it. Bob's own shown list and his dismissal do.
    let bob = app.token("bob", None);
    let body = call(
        &app,
        click,
        json!({"item": shown_item, "rec": recommendation_id}),
        &bob,
    )
    .await;
    assert_eq!(body["data"]["trackInteraction"], true);
    let (_, catalogue) = app
        .graphql("{ items(first: 200) { id } }", json!({}), None)
        .await;
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"]["id"].as_str().unwrap())
        .collect();
    let other = catalogue["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .find(|id| !listed.contains(id))
        .unwrap()
        .to_owned();
    let save = "mutation($item: String!, $rec: String) { trackInteraction(itemId: $item, kind: SAVE, recommendationId: $rec) }";
    call(
        &app,
        save,
        json!({"item": other, "rec": recommendation_id}),
        &customer,
    )
    .await;
    let bob_list = call(&app, LIST, json!({}), &bob).await["data"]["recommendations"].clone();
    let bob_variant = bob_list["provenance"]["variant"]
        .as_str()
        .unwrap()
        .to_owned();
    let dismiss = "mutation($item: String!, $rec: String) { trackInteraction(itemId: $item, kind: DISMISS, recommendationId: $rec) }";
    call(
        &app,
        dismiss,
        json!({"item": bob_list["items"][0]["item"]["id"], "rec": bob_list["id"]}),
        &bob,
    )
    .await;
    let results = results_until(&app, &admin, "spring", |r| {
        r["variants"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| v["counts"]["dismissals"] == 1))
    })
    .await;
    let total = |field: &str| -> i64 {
        results["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["counts"][field].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        (
            total("impressions"),
            total("clicks"),
            total("conversions"),
            total("dismissals")
        ),
        (5, 1, 1, 1),
        "{results}"
    );
    assert_eq!(variant(&results, &bob_variant)["counts"]["dismissals"], 1);

    // Stopped: lists go back to the default, the results stay.
    let body = lifecycle(&app, &admin, "stop", "spring").await;
    assert_eq!(
        body["data"]["stopExperiment"]["status"], "STOPPED",
        "{body}"
    );
    let body = call(&app, LIST, json!({}), &customer).await;
    assert_eq!(
        body["data"]["recommendations"]["provenance"]["experiment"],
        Value::Null,
        "{body}"
    );
    let body = lifecycle(&app, &admin, "archive", "spring").await;
    assert_eq!(
        body["data"]["archiveExperiment"]["status"], "ARCHIVED",
        "{body}"
    );
    let body = call(&app, "{ experiments { id } }", json!({}), &admin).await;
    assert_eq!(
        body["data"]["experiments"],
        json!([{"id": "autumn"}]),
        "{body}"
    );
    let body = call(
        &app,
        "{ experiments(includeArchived: true) { id status } }",
        json!({}),
        &admin,
    )
    .await;
    assert_eq!(
        body["data"]["experiments"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    let results = call(&app, RESULTS, json!({"id": "spring"}), &admin).await;
    assert_eq!(
        results["data"]["experimentResults"]["experiment"]["status"],
        "ARCHIVED"
    );
}

#[tokio::test]
async fn the_results_subscription_is_for_operators_and_moves_with_impressions() {
    let app = spawn_app().await;
    let admin = app.admin_token("ops");
    let mut bandit = ab_test("live");
    bandit["input"]["mode"] = json!("BANDIT");
    assert!(call(&app, CREATE, bandit, &admin).await["errors"].is_null());
    assert!(lifecycle(&app, &admin, "start", "live").await["errors"].is_null());
    let subscription = "subscription { experimentResults(id: \"live\") { variants { name counts { impressions } } } }";

    let customer = app.token("carol", None);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(Some(&customer)).await;
    ws.subscribe("x", subscription, json!({})).await;
    let refused = ws.recv_skip_ka().await;
    // The guard's error arrives as the subscription's result, with no data.
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );

    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(Some(&admin)).await;
    ws.subscribe("x", subscription, json!({})).await;
    let impressions = |message: &Value| -> i64 {
        message["payload"]["data"]["experimentResults"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["counts"]["impressions"].as_i64().unwrap())
            .sum()
    };
    let first = ws.recv_skip_ka().await;
    assert_eq!(impressions(&first), 0, "{first}");
    let body = call(&app, LIST, json!({}), &customer).await;
    assert_eq!(
        body["data"]["recommendations"]["provenance"]["experiment"], "live",
        "{body}"
    );
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = ws.recv_skip_ka().await;
            if impressions(&message) == 1 {
                return message;
            }
        }
    })
    .await
    .expect("the new impression within 10 s");
    assert_eq!(next["type"], "next");
}
