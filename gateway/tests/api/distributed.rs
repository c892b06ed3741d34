//! The distributed spine: gateways and workers as separate applications sharing Kafka (the
//! broker `scripts/stack up` starts), Redis and a fresh PostgreSQL database, each test in its
//! own Kafka namespace and Redis channel prefix. Ticks go in through Kafka with rdkafka's own
//! producer, as an exchange adapter would send them.

use std::collections::HashMap;
use std::time::Duration;

use finpulse_bus::Envelope;
use finpulse_gateway::config::{Config, Role};
use finpulse_market::events::Tick;
use finpulse_market::insights::{MarketState, TickOutcome};
use finpulse_store::testing::FreshPostgres;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{PATIENCE, TestApp, eventually, spawn_app_with, tick};

pub(crate) const TRANSPORT: &str = "graphql-transport-ws";

/// The services one test's replicas share.
pub(crate) struct Cluster {
    brokers: String,
    namespace: String,
    redis_url: String,
    channel_prefix: String,
    postgres: FreshPostgres,
}

impl Cluster {
    pub(crate) async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            brokers: std::env::var("FP_TEST_KAFKA_BROKERS")
                .unwrap_or_else(|_| "127.0.0.1:19092".into()),
            namespace: format!("test-{id}"),
            redis_url: std::env::var("FP_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            channel_prefix: format!("test-{id}:"),
            postgres: FreshPostgres::create().await,
        }
    }

    /// A replica in `role` on the shared services.
    pub(crate) async fn spawn(&self, role: Role) -> TestApp {
        self.spawn_with(role, |_| {}).await
    }

    /// A replica in `role` on the shared services, with a configuration tweak.
    async fn spawn_with(&self, role: Role, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (brokers, namespace, redis_url, prefix, database_url) = (
            self.brokers.clone(),
            self.namespace.clone(),
            self.redis_url.clone(),
            self.channel_prefix.clone(),
            self.postgres.url.clone(),
        );
        spawn_app_with(move |c: &mut Config| {
            c.role = role;
            c.kafka_brokers = Some(brokers);
            c.kafka.session_timeout_ms = 3_000;
            c.kafka.heartbeat_interval_ms = 500;
            c.kafka.max_poll_interval_ms = 10_000;
            c.kafka.max_poll_interval_ms = 10_000;
            c.log.partitions = 4;
            c.log.namespace = Some(namespace);
            c.redis_url = Some(redis_url);
            c.cache.key_prefix = format!("{prefix}cache:");
            c.recommend.online_features_prefix = format!("{prefix}features:");
            c.fanout.channel_prefix = prefix;
            c.database_url = Some(database_url);
            // Replicas verify each other's tokens.
            c.auth.jwt_secret = Some(SecretString::from("a shared test secret of 32+ bytes!"));
            tweak(c);
        })
        .await
    }

    /// Produces ticks to the ticks topic, keyed by symbol, with rdkafka.
    async fn produce(&self, ticks: &[Tick]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .create()
            .expect("kafka producer");
        let topic = format!("{}.market.ticks", self.namespace);
        for tick in ticks {
            let payload = Envelope::wrap(tick)
                .and_then(|e| e.to_bytes())
                .expect("tick encodes");
            producer
                .send(
                    FutureRecord::to(&topic)
                        .key(tick.symbol.as_str())
                        .payload(payload.as_slice()),
                    PATIENCE,
                )
                .await
                .map_err(|(e, _)| e)
                .expect("tick produced");
        }
    }

    /// Produces raw records to `topic` (without the namespace), keyed by `key`, with rdkafka.
    pub(crate) async fn produce_raw(&self, topic: &str, records: &[(&str, Vec<u8>)]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("kafka producer");
        let topic = format!("{}.{topic}", self.namespace);
        for (key, payload) in records {
            producer
                .send(
                    FutureRecord::to(&topic)
                        .key(*key)
                        .payload(payload.as_slice()),
                    PATIENCE,
                )
                .await
                .map_err(|(e, _)| e)
                .expect("record produced");
        }
    }

    /// Waits until `replicas` Redis connections subscribe to a fan-out channel.
    pub(crate) async fn wait_for_redis_subscribers(&self, channel: &str, replicas: i64) {
        self.wait_for_redis_count(channel, |count| count >= replicas)
            .await;
    }

    /// Waits until exactly `replicas` Redis connections subscribe to a fan-out channel.
    async fn wait_for_redis_subscribers_exactly(&self, channel: &str, replicas: i64) {
        self.wait_for_redis_count(channel, |count| count == replicas)
            .await;
    }

    async fn wait_for_redis_count(&self, channel: &str, enough: impl Fn(i64) -> bool) {
        let client = redis::Client::open(self.redis_url.as_str()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let channel = format!("{}{channel}", self.channel_prefix);
        tokio::time::timeout(PATIENCE, async {
            loop {
                let (_, count): (String, i64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(&channel)
                    .query_async(&mut connection)
                    .await
                    .expect("PUBSUB NUMSUB");
                if enough(count) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the redis subscribers of {channel} never came to the count"));
    }
}

#[tokio::test]
async fn gateways_without_models_get_summaries_from_inference_workers() {
    let cluster = Cluster::new().await;
    let worker = cluster
        .spawn_with(Role::Worker, |c| {
            c.inference.enabled = true;
            c.inference.remote = true;
        })
        .await;
    let gateway = cluster
        .spawn_with(Role::Gateway, |c| {
            c.inference.enabled = true;
            c.inference.remote = true;
        })
        .await;
    let text = "The central bank held rates. Inflation eased a little. A cat slept on a warm roof. \
                Markets expect cuts next year.";
    let (status, body) = gateway
        .graphql(
            "query($t: String!) { summarize(text: $t, sentences: 2) models { name dimension } }",
            json!({"t": text}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let summary = body["data"]["summarize"].as_array().expect("a summary");
    assert_eq!(summary.len(), 2, "{body}");
    assert_eq!(
        body["data"]["models"],
        json!([{"name": "minilm-l6-v2", "dimension": 384},
               {"name": "multilingual-e5-small", "dimension": 384}])
    );
    // The worker ran the model; the gateway loaded none.
    assert!(
        worker
            .metric(r#"finpulse_inference_requests_total{model="minilm-l6-v2"}"#)
            .await
            >= 1.0
    );
    assert_eq!(
        gateway
            .metric(r#"finpulse_inference_requests_total{model="minilm-l6-v2"}"#)
            .await,
        0.0
    );
}

/// A Redis user of one test's own, so cutting its connections touches nothing else running.
struct RedisUser {
    name: String,
    admin: redis::aio::MultiplexedConnection,
}

impl RedisUser {
    async fn create(redis_url: &str) -> Self {
        let client = redis::Client::open(redis_url).expect("redis url");
        let mut admin = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let name = format!("fp-test-{}", uuid::Uuid::new_v4().simple());
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &name, "on", "nopass", "~*", "&*", "+@all"])
            .query_async(&mut admin)
            .await
            .expect("ACL SETUSER");
        Self { name, admin }
    }

    fn url(&self, redis_url: &str) -> String {
        let rest = redis_url.strip_prefix("redis://").expect("a redis:// url");
        format!("redis://{}:x@{rest}", self.name)
    }

    /// Redis goes away for this user: its connections die and reconnecting is refused.
    async fn cut(&mut self) {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &self.name, "off"])
            .query_async(&mut self.admin)
            .await
            .expect("ACL SETUSER off");
        let _: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "USER", &self.name])
            .query_async(&mut self.admin)
            .await
            .expect("CLIENT KILL");
    }

    async fn restore(&mut self) {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", &self.name, "on"])
            .query_async(&mut self.admin)
            .await
            .expect("ACL SETUSER on");
    }

    async fn delete(mut self) {
        let _: i64 = redis::cmd("ACL")
            .arg(&["DELUSER", &self.name])
            .query_async(&mut self.admin)
            .await
            .expect("ACL DELUSER");
    }
}

#[tokio::test]
async fn when_redis_goes_away_sockets_stay_open_get_what_they_missed_and_deliveries_resume() {
    let cluster = Cluster::new().await;
    let mut user = RedisUser::create(&cluster.redis_url).await;
    let worker = cluster.spawn(Role::Worker).await;
    let gateway_url = user.url(&cluster.redis_url);
    let gateway = cluster
        .spawn_with(Role::Gateway, move |c| c.redis_url = Some(gateway_url))
        .await;
    let mut ws = gateway.ws(TRANSPORT).await;
    ws.init(None).await;
    ws.subscribe(
        "i",
        r#"subscription { insights(symbols: ["JPM"], kinds: [INDICATORS]) { ts } }"#,
        json!({}),
    )
    .await;
    cluster.wait_for_redis_subscribers("insights.JPM", 1).await;
    cluster
        .produce(&[tick("JPM", 0, 200.0, 1.0), tick("JPM", 60, 201.0, 1.0)])
        .await;
    assert_eq!(
        ws.recv().await["payload"]["data"]["insights"]["ts"],
        "2026-03-02T14:31:00+00:00"
    );

    user.cut().await;
    cluster
        .wait_for_redis_subscribers_exactly("insights.JPM", 0)
        .await;
    // Published while the gateway is cut off: it cannot arrive.
    cluster.produce(&[tick("JPM", 120, 202.0, 1.0)]).await;
    worker.handle.wait_until_drained().await;
    let (status, _) = gateway
        .graphql(r#"{ quote(symbol: "JPM") { price } }"#, json!({}), None)
        .await;
    assert_eq!(status, 200, "queries go on without redis");

    user.restore().await;
    cluster.wait_for_redis_subscribers("insights.JPM", 1).await;
    // Same socket, same subscription: first what was missed, replayed from the store ...
    let replayed = ws.recv().await;
    assert_eq!(
        replayed["payload"]["data"]["insights"]["ts"], "2026-03-02T14:32:00+00:00",
        "{replayed}"
    );
    // ... then live deliveries again.
    cluster.produce(&[tick("JPM", 180, 203.0, 1.0)]).await;
    let next = ws.recv().await;
    assert_eq!(
        next["payload"]["data"]["insights"]["ts"], "2026-03-02T14:33:00+00:00",
        "{next}"
    );
    assert_eq!(
        gateway.metric("finpulse_fanout_reconnects_total").await,
        1.0
    );
    user.delete().await;
}

/// A steady climb with a dip: enough ticks for every indicator to warm up and fire.
fn series(symbol: &str, from: i64, count: i64) -> Vec<Tick> {
    (from..from + count)
        .map(|i| {
            let price = 100.0 + (i as f64) * 0.5 + if i % 7 == 0 { -2.0 } else { 0.0 };
            tick(symbol, i * 60, price, 10.0 + (i % 5) as f64)
        })
        .collect()
}

#[tokio::test]
async fn a_tick_produced_to_kafka_reaches_subscribers_on_either_gateway() {
    let cluster = Cluster::new().await;
    let _worker = cluster.spawn(Role::Worker).await;
    let gateway_a = cluster.spawn(Role::Gateway).await;
    let gateway_b = cluster.spawn(Role::Gateway).await;

    let query =
        r#"subscription { insights(symbols: ["JPM"], kinds: [INDICATORS]) { id symbol ts } }"#;
    let mut on_a = gateway_a.ws(TRANSPORT).await;
    let mut on_b = gateway_b.ws(TRANSPORT).await;
    for ws in [&mut on_a, &mut on_b] {
        ws.init(None).await;
        ws.subscribe("i", query, json!({})).await;
    }
    cluster.wait_for_redis_subscribers("insights.JPM", 2).await;

    cluster
        .produce(&[tick("JPM", 0, 200.0, 1.0), tick("JPM", 60, 201.0, 1.0)])
        .await;
    for ws in [&mut on_a, &mut on_b] {
        let message = ws.recv().await;
        assert_eq!(
            message["payload"]["data"]["insights"]["ts"],
            json!("2026-03-02T14:31:00+00:00"),
            "{message}"
        );
    }

    // Both gateways read what the worker stored; the first read fills the cache both share,
    // every later one is a hit.
    let quote = async |gateway: &TestApp| {
        let (_, body) = gateway
            .graphql(r#"{ quote(symbol: "JPM") { price } }"#, json!({}), None)
            .await;
        body["data"]["quote"]["price"].as_f64()
    };
    for (gateway, hits) in [(&gateway_a, 1.0), (&gateway_b, 2.0)] {
        assert_eq!(quote(gateway).await, Some(201.0));
        assert_eq!(quote(gateway).await, Some(201.0));
        assert_eq!(
            gateway
                .metric(r#"finpulse_cache_requests_total{entity="quote",result="hit"}"#)
                .await,
            hits
        );
    }
    // The worker's next write invalidates what the gateways cached (well before the TTL).
    cluster.produce(&[tick("JPM", 61, 202.0, 1.0)]).await;
    for gateway in [&gateway_a, &gateway_b] {
        eventually("the new quote is read", || async {
            quote(gateway).await == Some(202.0)
        })
        .await;
    }
    // A worker serves no GraphQL, only operations.
    let worker_graphql = gateway_a
        .http
        .post(format!("{}/graphql", _worker.address))
        .json(&json!({"query": "{ symbols }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(worker_graphql.status().as_u16(), 404);
    let ready = gateway_a
        .http
        .get(format!("{}/readyz", _worker.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

/// Every insight of `ticks`, by id, as one process folding them in order computes it: what the
/// distributed workers must publish between them, whatever happens to them.
fn expected_insights(ticks: &[Tick]) -> HashMap<String, (String, Value)> {
    let mut state = MarketState::default();
    let mut expected = HashMap::new();
    for tick in ticks {
        if let TickOutcome::Applied { insights, .. } = state.on_tick(tick) {
            for insight in insights {
                expected.insert(insight.id, (insight.message, insight.indicators));
            }
        }
    }
    expected
}

#[tokio::test]
async fn two_gateways_two_workers_one_dies_mid_stream_and_no_insight_is_lost() {
    // Eight symbols spread over the four partitions, so both workers own some.
    let symbols = ["AAPL", "MSFT", "JPM", "GS", "BAC", "WFC", "MS", "C"];
    let cluster = Cluster::new().await;
    // Subscribed before any of their data exists: the gateways are told they are instruments.
    let instruments = || symbols.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let gateway = cluster
        .spawn_with(Role::Gateway, |c| c.market.instruments = instruments())
        .await;
    let gateway_b = cluster
        .spawn_with(Role::Gateway, |c| c.market.instruments = instruments())
        .await;
    let mut doomed = cluster.spawn(Role::Worker).await;
    let survivor = cluster.spawn(Role::Worker).await;
    let per_symbol = 40;
    let ticks: Vec<Tick> = (0..per_symbol)
        .flat_map(|i| symbols.iter().map(move |s| series(s, i, 1).remove(0)))
        .collect();
    let expected = expected_insights(&ticks);
    assert!(expected.len() > 300, "the series raises plenty of insights");

    let (mut ws, mut ws_b) = (gateway.ws(TRANSPORT).await, gateway_b.ws(TRANSPORT).await);
    for ws in [&mut ws, &mut ws_b] {
        ws.init(None).await;
        ws.subscribe(
            "i",
            r#"subscription($symbols: [String!]) { insights(symbols: $symbols) { id message indicators } }"#,
            json!({"symbols": symbols}),
        )
        .await;
    }
    for symbol in symbols {
        cluster
            .wait_for_redis_subscribers(&format!("insights.{symbol}"), 2)
            .await;
    }

    // The first half, with both workers running; both own partitions with ticks.
    let half = ticks.len() / 2;
    cluster.produce(&ticks[..half]).await;
    for worker in [&doomed, &survivor] {
        worker
            .wait_for_metric(
                r#"finpulse_processor_events_total{topic="market.ticks"}"#,
                1.0,
            )
            .await;
    }
    let mut clients = [InsightClient::new(ws), InsightClient::new(ws_b)];
    for client in &mut clients {
        client.receive(20).await;
    }
    // Both workers committed the first half, so the second half starts where they left off
    // rather than from the start of the log (which would rebuild any state from scratch).
    survivor.handle.wait_until_drained().await;

    // One worker dies mid-stream without a goodbye: its task is dropped where it stands.
    doomed.server.take().expect("running").abort();
    drop(doomed);
    cluster.produce(&ticks[half..]).await;

    // Clients of both gateways see every insight, as one process would have computed it.
    for client in &mut clients {
        client.receive(expected.len()).await;
        assert_eq!(client.seen.len(), expected.len());
        for (id, body) in &expected {
            assert_eq!(client.seen.get(id), Some(body), "insight {id}");
        }
        eprintln!("{} redelivered insights dropped by id", client.duplicates);
    }
}

/// A client of an `insights` subscription that drops redeliveries by id.
struct InsightClient {
    ws: crate::helpers::Ws,
    seen: HashMap<String, (String, Value)>,
    duplicates: usize,
}

impl InsightClient {
    fn new(ws: crate::helpers::Ws) -> Self {
        Self {
            ws,
            seen: HashMap::new(),
            duplicates: 0,
        }
    }

    /// Reads until `want` distinct insights arrived.
    async fn receive(&mut self, want: usize) {
        while self.seen.len() < want {
            let message = self.ws.recv().await;
            assert_eq!(message["type"], "next", "{message}");
            let insight = &message["payload"]["data"]["insights"];
            let id = insight["id"].as_str().expect("an insight id").to_owned();
            let body = (
                insight["message"].as_str().expect("a message").to_owned(),
                insight["indicators"].clone(),
            );
            if let Some(before) = self.seen.insert(id, body.clone()) {
                // A redelivery: same id, same content, dropped by the client.
                assert_eq!(before, body);
                self.duplicates += 1;
            }
        }
    }
}
