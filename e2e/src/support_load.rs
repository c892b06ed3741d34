//! `finpulse-support-load`: a customer's message → the bot's pushed reply, under load.
//!
//! Signs in `--users` customers, each opening a conversation and subscribing to its `chat`,
//! then sending the questions of `--queries` (the `query` column of a `query,id` CSV, such as
//! the shipped `streams/support/data/faq-queries.csv`) one after another, each as soon as the
//! bot has answered the last: `--users` messages in flight. It measures from sending
//! `sendMessage` to receiving the bot's message on the socket: the whole path (HTTP, the log,
//! the support processor with its store reads and writes, language detection, embedding the
//! message with every retrieval model, ranking, composing, the fan-out and the socket).
//!
//! A conversation the bot hands off (a rephrase followed by another miss, or a request for a
//! person) no longer gets bot replies, so the customer opens a new one. Each conversation's
//! first message is a warm-up that is not measured: its answer on the socket proves the
//! subscription is live before anything is timed (it is asked again until one arrives).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "tokens.rs"]
mod tokens;

/// Message-to-reply latency against one server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host and port of the server (the embedded default, development tokens on).
    #[arg(long, default_value = "127.0.0.1:8000")]
    server: String,
    /// Sign tokens with this HS256 secret instead of asking for development tokens.
    #[arg(long, env = "FP_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// Customers chatting at once (messages in flight).
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Measured messages per customer.
    #[arg(long, default_value_t = 50)]
    messages: usize,
    /// The questions asked, a CSV with a `query` column.
    #[arg(long, default_value = "streams/support/data/faq-queries.csv")]
    queries: std::path::PathBuf,
}

const CHAT: &str = "subscription($id: ID!) { chat(conversationId: $id) { \
    message { author evidence } conversation { status } } }";
/// Asked first in every conversation, untimed: a question the shipped FAQ answers outright.
const WARM_UP: &str = "How do I reset my password?";
const SEND: &str =
    "mutation($id: ID!, $text: String!) { sendMessage(conversationId: $id, text: $text) { id } }";

fn read_queries(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let column = reader
        .headers()?
        .iter()
        .position(|h| h == "query")
        .context("the queries file has no `query` column")?;
    let mut queries = Vec::new();
    for row in reader.records() {
        if let Some(query) = row?.get(column).filter(|q| !q.trim().is_empty()) {
            queries.push(query.to_owned());
        }
    }
    if queries.is_empty() {
        bail!("{} has no queries", path.display());
    }
    Ok(queries)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One customer's session: a socket, a token, the conversation in use.
struct Customer {
    http: reqwest::Client,
    server: String,
    token: String,
    socket: Socket,
    conversation: Option<String>,
    subscriptions: u64,
}

/// What one measured message came back as.
struct Outcome {
    micros: u64,
    decision: String,
}

impl Customer {
    async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body: Value = self
            .http
            .post(format!("http://{}/graphql", self.server))
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await?
            .json()
            .await?;
        if body["errors"].is_array() {
            bail!("graphql error: {}", body["errors"]);
        }
        Ok(body)
    }

    /// The next `chat` event on the socket before `deadline` (`None` after it). The deadline
    /// is for the whole wait: the server's pings keep coming when no event does.
    async fn next_event(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> anyhow::Result<Option<Value>> {
        loop {
            let Ok(message) = tokio::time::timeout_at(deadline, self.socket.next()).await else {
                return Ok(None);
            };
            let message = message.context("socket closed")??;
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("next") => return Ok(Some(value["payload"]["data"]["chat"].clone())),
                Some("error") => bail!("subscription refused: {value}"),
                _ => {}
            }
        }
    }

    /// Sends `text` and waits up to `patience` for the bot's answer on the socket; returns the
    /// time between and the event (`None` when it did not come in time).
    async fn ask_within(
        &mut self,
        text: &str,
        patience: Duration,
    ) -> anyhow::Result<Option<(Duration, Value)>> {
        let id = self.conversation.clone().context("no conversation")?;
        let sent = Instant::now();
        self.graphql(SEND, json!({"id": id, "text": text})).await?;
        let deadline = tokio::time::Instant::now() + patience;
        while let Some(event) = self.next_event(deadline).await? {
            if event["message"]["author"] == "BOT" {
                return Ok(Some((sent.elapsed(), event)));
            }
        }
        Ok(None)
    }

    /// [`Customer::ask_within`] 30 s, or an error.
    async fn ask(&mut self, text: &str) -> anyhow::Result<(Duration, Value)> {
        self.ask_within(text, Duration::from_secs(30))
            .await?
            .context("no answer on the socket within 30 s")
    }

    /// A new conversation, subscribed, with a warm-up question asked (not measured).
    async fn open(&mut self) -> anyhow::Result<()> {
        if self.subscriptions > 0 {
            let done = json!({"id": format!("c{}", self.subscriptions), "type": "complete"});
            self.socket
                .send(Message::Text(done.to_string().into()))
                .await?;
        }
        let body = self
            .graphql("mutation { startConversation { id } }", json!({}))
            .await?;
        let id = body["data"]["startConversation"]["id"]
            .as_str()
            .context("no conversation id")?
            .to_owned();
        self.subscriptions += 1;
        let subscribe = json!({"id": format!("c{}", self.subscriptions), "type": "subscribe",
            "payload": {"query": CHAT, "variables": {"id": id}}});
        self.socket
            .send(Message::Text(subscribe.to_string().into()))
            .await?;
        self.conversation = Some(id);
        // A pushed answer to the warm-up proves the subscription is live; it is not timed. The
        // server has no "subscribed" message, and an answer can be pushed before the
        // subscription is in place (a remembered question is answered in milliseconds), so
        // the warm-up is asked again until an answer arrives on the socket.
        for _ in 0..10 {
            if let Some((_, event)) = self.ask_within(WARM_UP, Duration::from_secs(3)).await? {
                if event["conversation"]["status"] != "OPEN" {
                    bail!("the warm-up question was handed off: {event}");
                }
                return Ok(());
            }
        }
        bail!("no warm-up answer arrived on the chat subscription in ten tries")
    }

    async fn run(
        mut self,
        queries: Vec<String>,
        offset: usize,
        messages: usize,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(messages);
        let question = |n: usize| queries[(offset + n) % queries.len()].as_str();
        self.open().await?;
        for n in 0..messages {
            let (elapsed, event) = self.ask(question(n)).await?;
            // Customers see no evidence; the decision shows in the conversation's status.
            let status = event["conversation"]["status"].as_str().unwrap_or_default();
            outcomes.push(Outcome {
                micros: elapsed.as_micros() as u64,
                decision: if status == "OPEN" {
                    "bot".into()
                } else {
                    "handoff".into()
                },
            });
            if status != "OPEN" {
                self.open().await?;
            }
        }
        Ok(outcomes)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let queries = read_queries(&args.queries)?;
    let http = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.users {
        let user = format!("support-load-{n:03}");
        let token = tokens::token(&http, &args.server, args.jwt_secret.as_deref(), &user).await?;
        let mut request = format!("ws://{}/graphql", args.server).into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let init = json!({"type": "connection_init",
            "payload": {"Authorization": format!("Bearer {token}")}});
        socket.send(Message::Text(init.to_string().into())).await?;
        socket.next().await.context("no ack")??;
        let customer = Customer {
            http: http.clone(),
            server: args.server.clone(),
            token,
            socket,
            conversation: None,
            subscriptions: 0,
        };
        // Customers start at different questions so they do not ask in lockstep.
        let offset = n * queries.len() / args.users.max(1);
        tasks.spawn(customer.run(queries.clone(), offset, args.messages));
    }
    let started = Instant::now();
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut handoffs = 0usize;
    while let Some(joined) = tasks.join_next().await {
        for outcome in joined.context("a customer panicked")?? {
            latencies.record(outcome.micros.max(1))?;
            handoffs += usize::from(outcome.decision == "handoff");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{} customers, {} measured messages in {elapsed:.1} s ({:.1} replies/s), {handoffs} ended in a handoff",
        args.users,
        latencies.len(),
        latencies.len() as f64 / elapsed
    );
    println!(
        "message → pushed reply: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latencies.max() as f64 / 1000.0
    );
    Ok(())
}
