//! `spawn_app()` and a small graphql-ws client for the tests.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use finpulse_bus::Envelope;
use finpulse_gateway::app::{AppHandle, Application, MarketSource};
use finpulse_gateway::config::Config;
use finpulse_market::events::{TICKS_TOPIC, Tick};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound on waiting for something that should happen at once, so a broken server
/// fails the test instead of hanging it. Never a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running application in a fresh data folder.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub handle: AppHandle,
    pub http: reqwest::Client,
    pub server: Option<JoinHandle<anyhow::Result<()>>>,
    _data_dir: tempfile::TempDir,
}

/// The application with the simulator off, so tests decide every tick.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The application with the simulator off and a configuration tweak.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("valid address"),
        data_dir: data_dir.path().to_path_buf(),
        log_level: "warn".into(),
        ..Config::default()
    };
    config.market.simulator.enabled = false;
    // The demo catalogue and a seeded history, but no live simulated customers: tests decide
    // every interaction.
    config.recommend.simulator.rate_per_sec = 0.0;
    // No demo experiment either: a test that wants one starts it.
    config.recommend.simulator.demo_experiment = false;
    // Tests that need the models turn them on (see `with_models`).
    config.inference.enabled = false;
    config.inference.manifest = models_manifest();
    tweak(&mut config);
    let app = Application::build(config, MarketSource::Simulator)
        .await
        .expect("application builds");
    let port = app.port();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        handle,
        http: reqwest::Client::new(),
        server: Some(server),
        _data_dir: data_dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// The models on, and the recommender off: tests that count model work see only their own
/// (the recommender embeds the catalogue's descriptions at every training).
pub fn models_without_recommender(config: &mut Config) {
    config.inference.enabled = true;
    config.recommend.enabled = false;
}

/// The repository's model manifest (`scripts/setup-models.sh` fetches its files).
pub fn models_manifest() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models.toml")
}

/// 2026-03-02 14:30 UTC plus `seconds`: a Monday inside US trading hours.
pub fn market_time(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0).unwrap() + chrono::Duration::seconds(seconds)
}

pub fn tick(symbol: &str, seconds: i64, price: f64, size: f64) -> Tick {
    Tick {
        symbol: symbol.into(),
        price,
        size,
        bid: price - 0.01,
        ask: price + 0.01,
        ts: market_time(seconds),
    }
}

/// Polls `condition` until it holds; fails the test if it does not within [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(PATIENCE, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting: {what}");
}

impl TestApp {
    /// POSTs a GraphQL request and returns status and JSON body.
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.json().await.expect("json body");
        (status, body)
    }

    /// Appends ticks to the event log as the simulator would.
    pub async fn publish_ticks(&self, ticks: &[Tick]) {
        let log = self.handle.log();
        for tick in ticks {
            let envelope = Envelope::wrap(tick).expect("tick encodes");
            let bytes = envelope.to_bytes().expect("envelope encodes");
            log.append(TICKS_TOPIC, &tick.symbol, bytes.into())
                .await
                .expect("append");
        }
    }

    /// A token for an operator (`admin` role).
    pub fn admin_token(&self, user: &str) -> String {
        self.token_with_role(user, finpulse_graph::Role::Admin)
    }

    /// A token for `user` with exactly `role`.
    pub fn token_with_role(&self, user: &str, role: finpulse_graph::Role) -> String {
        self.handle
            .auth()
            .mint_with(
                user,
                None,
                &finpulse_gateway::auth::Grant {
                    roles: vec![role],
                    scopes: vec![],
                },
            )
            .expect("token minted")
    }

    /// A token for `user` minted by the application's own key.
    pub fn token(&self, user: &str, ttl_secs: Option<u64>) -> String {
        self.handle
            .auth()
            .mint(user, ttl_secs)
            .expect("token minted")
    }

    /// Every sample of `/metrics` as (name with labels, value).
    async fn samples(&self) -> Vec<(String, f64)> {
        let text = self
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter_map(|(name, value)| Some((name.to_owned(), value.parse().ok()?)))
            .collect()
    }

    /// The value of one sample in `/metrics`, 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        self.samples()
            .await
            .into_iter()
            .find(|(name, _)| name == sample)
            .map_or(0.0, |(_, value)| value)
    }

    /// The sum of every sample whose name and labels start with `prefix`.
    pub async fn metric_sum(&self, prefix: &str) -> f64 {
        self.samples()
            .await
            .into_iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, value)| value)
            .sum()
    }

    /// Waits until `count` subscriptions listen to a fan-out channel, so events published
    /// afterwards reach them.
    pub async fn wait_for_subscribers(&self, channel: &str, count: usize) {
        let fanout = self.handle.fanout();
        eventually(&format!("{count} subscribers on {channel}"), || async {
            fanout.local_subscribers(channel) >= count
        })
        .await;
    }

    /// Waits until a metric sample reaches `value`.
    pub async fn wait_for_metric(&self, sample: &str, value: f64) {
        eventually(&format!("{sample} reaches {value}"), || async {
            self.metric(sample).await >= value
        })
        .await;
    }

    /// Waits until a metric sample falls below `value`.
    pub async fn wait_for_metric_below(&self, sample: &str, value: f64) {
        eventually(&format!("{sample} falls below {value}"), || async {
            self.metric(sample).await < value
        })
        .await;
    }

    /// Waits until no subscription listens to a fan-out channel any more.
    pub async fn wait_for_subscribers_to_leave(&self, channel: &str) {
        let fanout = self.handle.fanout();
        eventually(&format!("nobody on {channel}"), || async {
            fanout.local_subscribers(channel) == 0
        })
        .await;
    }

    pub async fn ws(&self, protocol: &str) -> Ws {
        Ws::connect(self.port, Some(protocol), None).await
    }
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw WebSocket client speaking JSON text frames.
pub struct Ws {
    pub socket: Socket,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    Closed(u16, String),
    Dropped,
}

impl Ws {
    pub async fn connect(port: u16, protocol: Option<&str>, bearer: Option<&str>) -> Ws {
        let mut request = format!("ws://127.0.0.1:{port}/graphql")
            .into_client_request()
            .expect("valid url");
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(protocol).unwrap(),
            );
        }
        if let Some(token) = bearer {
            request.headers_mut().insert(
                "Authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        Ws { socket }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("frame sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("frame sent");
    }

    /// The next JSON message; panics if the socket closes instead.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(PATIENCE).await
    }

    /// The next JSON message within `patience`; panics if the socket closes instead.
    pub async fn recv_within(&mut self, patience: Duration) -> Value {
        loop {
            let frame = tokio::time::timeout(patience, self.socket.next())
                .await
                .expect("a message arrives");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("server sends JSON");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The next message that is not a legacy keep-alive.
    pub async fn recv_skip_ka(&mut self) -> Value {
        self.recv_skip_ka_within(PATIENCE).await
    }

    /// The next message that is not a legacy keep-alive, waiting up to `patience` for each.
    pub async fn recv_skip_ka_within(&mut self, patience: Duration) -> Value {
        loop {
            let message = self.recv_within(patience).await;
            if message["type"] != "ka" {
                return message;
            }
        }
    }

    /// Reads until the server closes; returns the close code and reason.
    pub async fn closed(&mut self) -> Ending {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the socket closes");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Ending::Closed(frame.code.into(), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Ending::Dropped,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the server closes, returning the messages seen before.
    pub async fn drain_until_closed(&mut self) -> (Vec<Value>, Ending) {
        let mut seen = Vec::new();
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the socket closes");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    seen.push(serde_json::from_str(&text).expect("JSON"))
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (
                        seen,
                        Ending::Closed(frame.code.into(), frame.reason.to_string()),
                    );
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return (seen, Ending::Dropped);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// `connection_init` (with an optional token) and the ack.
    pub async fn init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(token) => json!({"Authorization": format!("Bearer {token}")}),
            None => json!({}),
        };
        self.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let ack = self.recv().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            .await;
    }
}

/// Asserts a JSON number is within 1e-9 of `expected`.
pub fn approx(value: &Value, expected: f64) {
    let actual = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}
