//! The recommender through the API: lists follow the customer's own interactions, live, and
//! nobody sees anyone else's.

use serde_json::{Value, json};

use crate::helpers::{TestApp, Ws, spawn_app};

const TRANSPORT: &str = "graphql-transport-ws";
const LIST: &str = "id items { item { id sector risk complex kind } explanation recommendationId } provenance { model modelVersion }";

async fn next_list(ws: &mut Ws) -> Value {
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), ws.recv_skip_ka())
        .await
        .expect("a list within 10 s");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["recommendations"].clone()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn track(app: &TestApp, token: &str, item: &str, kind: &str) -> Value {
    let (_, body) = app
        .graphql(
            "mutation($item: String!, $kind: InteractionKind!) { trackInteraction(itemId: $item, kind: $kind) }",
            json!({"item": item, "kind": kind}),
            Some(token),
        )
        .await;
    body
}

#[tokio::test]
async fn a_customers_list_follows_their_interactions_and_no_one_elses() {
    let app = spawn_app().await;
    let alice = app.token("newcomer-a", None);
    let bob = app.token("newcomer-b", None);
    let mut ws_alice = app.ws(TRANSPORT).await;
    ws_alice.init(Some(&alice)).await;
    let query =
        format!("subscription {{ recommendations(first: 8, kinds: [INSTRUMENT]) {{ {LIST} }} }}");
    ws_alice.subscribe("r", &query, json!({})).await;
    let mut ws_bob = app.ws(TRANSPORT).await;
    ws_bob.init(Some(&bob)).await;
    ws_bob.subscribe("r", &query, json!({})).await;

    // A newcomer without history: segment popularity.
    let first = next_list(&mut ws_alice).await;
    assert_eq!(first["provenance"]["model"], "popularity", "{first}");
    let bob_first = next_list(&mut ws_bob).await;
    assert_eq!(bob_first["provenance"]["model"], "popularity");

    // Alice saves three government bonds; her list turns collaborative at once.
    let (_, catalogue) = app
        .graphql(
            "{ items(kinds: [INSTRUMENT], first: 200) { id sector risk } }",
            json!({}),
            None,
        )
        .await;
    let bonds: Vec<&str> = catalogue["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["sector"] == "bonds" && item["risk"].as_i64().unwrap() <= 3)
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert!(bonds.len() >= 3, "{catalogue}");
    let mut list = first;
    for bond in &bonds[..3] {
        let body = track(&app, &alice, bond, "SAVE").await;
        assert_eq!(body["data"]["trackInteraction"], true, "{body}");
        list = next_list(&mut ws_alice).await;
    }
    assert_eq!(list["provenance"]["model"], "ease", "{list}");
    assert!(
        list["items"][0]["explanation"]
            .as_str()
            .unwrap()
            .starts_with("because you saved "),
        "{list}"
    );
    assert!(
        ids(&list)
            .iter()
            .all(|id| !bonds[..3].contains(&id.as_str())),
        "saved items are not shown back"
    );
    let recommendation_id = list["id"].as_str().unwrap();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["recommendationId"] == recommendation_id)
    );
    // The default profile is cautious: nothing above risk 3, nothing complex.
    for recommended in list["items"].as_array().unwrap() {
        assert!(
            recommended["item"]["risk"].as_i64().unwrap() <= 3,
            "{recommended}"
        );
        assert_eq!(recommended["item"]["complex"], false);
    }

    // The query agrees, and bob's subscription saw nothing of alice's.
    let (_, body) = app
        .graphql(
            &format!("{{ recommendations(first: 8, kinds: [INSTRUMENT]) {{ {LIST} }} }}"),
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(
        body["data"]["recommendations"]["provenance"]["model"], "ease",
        "{body}"
    );
    let nothing =
        tokio::time::timeout(std::time::Duration::from_millis(500), ws_bob.recv_skip_ka()).await;
    assert!(nothing.is_err(), "bob received {nothing:?}");

    // Dismissing the top item removes it.
    let top = ids(&list)[0].clone();
    track(&app, &alice, &top, "DISMISS").await;
    let after = next_list(&mut ws_alice).await;
    assert!(!ids(&after).contains(&top), "{after}");
}

#[tokio::test]
async fn recommendations_need_a_customer_and_interactions_are_checked() {
    let app = spawn_app().await;
    let (_, body) = app
        .graphql("{ recommendations { id } }", json!({}), None)
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    let token = app.token("carol", None);
    let body = track(&app, &token, "NO-SUCH-ITEM", "CLICK").await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let (_, body) = app
        .graphql("{ items(first: 1) { id } }", json!({}), None)
        .await;
    let item = body["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    let body = track(&app, &token, &item, "RATE").await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "a rating is needed: {body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("rating"),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ recommendations(first: 0) { id } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let (_, body) = app
        .graphql(
            &format!("{{ similarItems(id: \"{item}\", first: 3) {{ id }} }}"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["similarItems"].as_array().unwrap().len(),
        3,
        "{body}"
    );
}

#[tokio::test]
async fn operators_retrain_and_roll_back_and_customers_cannot() {
    use finpulse_gateway::auth::Grant;
    let app = spawn_app().await;
    let admin = app
        .handle
        .auth()
        .mint_with(
            "ops",
            None,
            &Grant {
                roles: vec![finpulse_graph::Role::Admin],
                scopes: vec![],
            },
        )
        .unwrap();
    let customer = app.token("dora", None);
    let (_, body) = app
        .graphql(
            "mutation { retrainRecommender { serving } }",
            json!({}),
            Some(&customer),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    let (_, before) = app
        .graphql(
            "{ recommenderModels { serving versions } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let first = before["data"]["recommenderModels"]["serving"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            "mutation { retrainRecommender { serving versions } }",
            json!({}),
            Some(&admin),
        )
        .await;
    let models = &body["data"]["retrainRecommender"];
    let second = models["serving"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "{body}");
    assert_eq!(models["versions"], json!([first.clone(), second.clone()]));

    let (_, body) = app
        .graphql(
            "mutation($v: String!) { rollbackRecommender(version: $v) { serving } }",
            json!({"v": first}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        body["data"]["rollbackRecommender"]["serving"],
        first.as_str(),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ recommendations(first: 3) { provenance { modelVersion } } }",
            json!({}),
            Some(&customer),
        )
        .await;
    assert_eq!(
        body["data"]["recommendations"]["provenance"]["modelVersion"],
        first.as_str(),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "mutation { rollbackRecommender(version: \"nope\") { serving } }",
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

/// The recommender across replicas: an interaction sent to one gateway, or produced straight
/// to Kafka, is applied by the worker, and the customer's new list reaches their subscription
/// on the other gateway; a malformed interaction is parked.
#[tokio::test]
async fn interactions_on_one_gateway_push_lists_to_another() {
    use crate::distributed::Cluster;
    use crate::helpers::{PATIENCE, eventually};
    use finpulse_bus::Envelope;
    use finpulse_core::recommend::{Interaction, InteractionKind};
    use finpulse_gateway::config::Role;
    use finpulse_recommend::events::InteractionEvent;
    let cluster = Cluster::new().await;
    // The worker seeds the catalogue and history; the gateways then train on them.
    let worker = cluster.spawn(Role::Worker).await;
    let gateway_a = cluster.spawn(Role::Gateway).await;
    let gateway_b = cluster.spawn(Role::Gateway).await;
    let token = gateway_a.token("dist-customer", None);
    let mut ws = gateway_b.ws(TRANSPORT).await;
    ws.init(Some(&token)).await;
    ws.subscribe(
        "r",
        "subscription { recommendations(first: 5) { id provenance { model } items { explanation item { id } } } }",
        json!({}),
    )
    .await;
    let first = ws.recv_skip_ka().await;
    assert_eq!(
        first["payload"]["data"]["recommendations"]["provenance"]["model"], "popularity",
        "{first}"
    );
    cluster
        .wait_for_redis_subscribers("recommendations.dist-customer", 1)
        .await;

    let (_, items) = gateway_a
        .graphql(
            "{ items(kinds: [ARTICLE], first: 3) { id } }",
            json!({}),
            None,
        )
        .await;
    let item = items["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, body) = gateway_a
        .graphql(
            "mutation($item: String!) { trackInteraction(itemId: $item, kind: SAVE) }",
            json!({"item": item}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["trackInteraction"], true, "{body}");
    let pushed = tokio::time::timeout(PATIENCE, ws.recv_skip_ka())
        .await
        .expect("a pushed list on the other gateway");
    let list = &pushed["payload"]["data"]["recommendations"];
    assert_eq!(list["provenance"]["model"], "ease", "{pushed}");

    // Straight from a Kafka producer, as a bank's app backend would send it; and one that
    // is not an interaction at all.
    let second = items["data"]["items"][1]["id"].as_str().unwrap().to_owned();
    let event = InteractionEvent(Interaction {
        user: "dist-customer".into(),
        item: second.clone(),
        kind: InteractionKind::Dismiss,
        rating: None,
        recommendation_id: None,
        at: chrono::Utc::now(),
    });
    let payload = Envelope::wrap(&event).and_then(|e| e.to_bytes()).unwrap();
    cluster
        .produce_raw(
            "user.interactions",
            &[
                ("dist-customer", b"{not an envelope".to_vec()),
                ("dist-customer", payload),
            ],
        )
        .await;
    let pushed = tokio::time::timeout(PATIENCE, ws.recv_skip_ka())
        .await
        .expect("a list after the produced dismissal");
    let ids: Vec<&str> = pushed["payload"]["data"]["recommendations"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"]["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&second.as_str()), "{pushed}");
    eventually("the malformed interaction is parked", || async {
        worker
            .metric_sum("finpulse_processor_parked_events_total{")
            .await
            >= 1.0
    })
    .await;

    // One model version for all three, kept in PostgreSQL: trained once, followed by the others;
    // a retrain on one gateway and a rollback on the other reach every replica (the worker's
    // shows in the lists it pushes).
    let watcher = gateway_b.token("dist-versions", None);
    let mut watching = gateway_b.ws(TRANSPORT).await;
    watching.init(Some(&watcher)).await;
    watching
        .subscribe(
            "v",
            "subscription { recommendations(first: 3) { provenance { modelVersion } } }",
            json!({}),
        )
        .await;
    let first_list = watching.recv_skip_ka().await;
    cluster
        .wait_for_redis_subscribers("recommendations.dist-versions", 1)
        .await;
    let mut worker_serves = async |version: &str| {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            track(&gateway_a, &watcher, &item, "CLICK").await;
            let pushed = tokio::time::timeout(PATIENCE, watching.recv_skip_ka())
                .await
                .expect("a pushed list");
            let made_by =
                &pushed["payload"]["data"]["recommendations"]["provenance"]["modelVersion"];
            if made_by == version {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker still pushes lists of {made_by}, not {version}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    let gateways = [&gateway_a, &gateway_b];
    let first = first_list["payload"]["data"]["recommendations"]["provenance"]["modelVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{first_list}"))
        .to_owned();
    eventually("both gateways serve the first version", || {
        all_serve(&gateways, &first)
    })
    .await;
    worker_serves(&first).await;
    let (_, body) = gateway_a
        .graphql(
            "mutation { retrainRecommender { serving versions } }",
            json!({}),
            Some(&gateway_a.admin_token("ops")),
        )
        .await;
    let retrained = body["data"]["retrainRecommender"]["serving"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert_ne!(retrained, first);
    eventually("both gateways serve the retrained version", || {
        all_serve(&gateways, &retrained)
    })
    .await;
    worker_serves(&retrained).await;
    let (_, body) = gateway_b
        .graphql(
            "mutation($v: String!) { rollbackRecommender(version: $v) { serving } }",
            json!({"v": first}),
            Some(&gateway_b.admin_token("ops")),
        )
        .await;
    assert_eq!(
        body["data"]["rollbackRecommender"]["serving"], first,
        "{body}"
    );
    eventually("both gateways serve the rolled-back version", || {
        all_serve(&gateways, &first)
    })
    .await;
    worker_serves(&first).await;
}

/// The recommender version a replica serves, as an operator reads it.
async fn serving(app: &TestApp) -> Option<String> {
    let (_, body) = app
        .graphql(
            "{ recommenderModels { serving } }",
            json!({}),
            Some(&app.admin_token("ops")),
        )
        .await;
    body["data"]["recommenderModels"]["serving"]
        .as_str()
        .map(str::to_owned)
}

async fn all_serve(replicas: &[&TestApp], version: &str) -> bool {
    for app in replicas {
        if serving(app).await.as_deref() != Some(version) {
            return false;
        }
    }
    true
}

/// Two workers share the interaction partitions; one dies mid-stream. The survivor takes its
/// partitions over and loads each customer's state from the store on their next event, so what
/// a customer did before the handover still shapes the lists made after it.
#[tokio::test]
async fn a_workers_customers_keep_their_state_when_another_worker_takes_over() {
    use crate::distributed::Cluster;
    use crate::helpers::PATIENCE;
    use finpulse_gateway::config::Role;
    let cluster = Cluster::new().await;
    let mut doomed = cluster.spawn(Role::Worker).await;
    let survivor = cluster.spawn(Role::Worker).await;
    let gateway = cluster.spawn(Role::Gateway).await;
    let customers: Vec<String> = (0..8).map(|n| format!("handover-{n}")).collect();
    let mut sockets = Vec::new();
    for customer in &customers {
        let token = gateway.token(customer, None);
        let mut ws = gateway.ws(TRANSPORT).await;
        ws.init(Some(&token)).await;
        ws.subscribe(
            "r",
            "subscription { recommendations(first: 8) { id items { item { id } } } }",
            json!({}),
        )
        .await;
        let first = next_list(&mut ws).await;
        cluster
            .wait_for_redis_subscribers(&format!("recommendations.{customer}"), 1)
            .await;
        sockets.push((token, ws, ids(&first)));
    }
    // Waits for a list without any of `gone` (lists made before the last event may come first).
    async fn list_without(ws: &mut Ws, gone: &[String]) -> Vec<String> {
        tokio::time::timeout(PATIENCE * 2, async {
            loop {
                let list = next_list(ws).await;
                let shown = ids(&list);
                if !shown.iter().any(|id| gone.contains(id)) {
                    return shown;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no list without {gone:?}"))
    }

    // Before: each customer dismisses their top item; both workers are handling partitions.
    let mut dismissed: Vec<Vec<String>> = Vec::new();
    for (token, ws, shown) in &mut sockets {
        let top = shown[0].clone();
        let body = track(&gateway, token, &top, "DISMISS").await;
        assert_eq!(body["data"]["trackInteraction"], true, "{body}");
        *shown = list_without(ws, std::slice::from_ref(&top)).await;
        dismissed.push(vec![top]);
    }
    survivor.handle.wait_until_drained().await;

    // One worker dies without a goodbye; the survivor gets its partitions.
    doomed.server.take().expect("running").abort();
    drop(doomed);

    // After: each customer dismisses their new top item. The list that follows leaves out
    // both: the earlier dismissal was kept in the store and reloaded by whichever worker holds
    // the customer's partition now.
    for ((token, ws, shown), gone) in sockets.iter_mut().zip(&mut dismissed) {
        let top = shown[0].clone();
        let body = track(&gateway, token, &top, "DISMISS").await;
        assert_eq!(body["data"]["trackInteraction"], true, "{body}");
        gone.push(top);
        let after = list_without(ws, gone).await;
        assert!(after.len() >= 5, "{after:?}");
    }
}
