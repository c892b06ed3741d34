//! `finpulse-recommend-load`: interaction → pushed recommendations, under load.
//!
//! Signs in `--users` customers (development tokens from the embedded server's `/dev/token`),
//! subscribes each to `recommendations`, then sends `trackInteraction` mutations at `--rate`
//! per second for `--seconds`, each customer with at most one interaction in flight, and
//! measures from sending the mutation to receiving that customer's next pushed list: the whole
//! path (HTTP, the log, the recommend processor with its store write, ranking, the fan-out and
//! the socket). `scripts/bench-recommend.sh` runs it against a release build. `--warmup`
//! leaves the first seconds' interactions out of the figures.
//!
//! Distributed (`scripts/bench-recommend.sh --distributed`): `--server A,B` lists gateways;
//! customer n subscribes on one and sends its interactions to the next, so every measured push
//! crosses replicas (gateway → Kafka → worker → Redis → the other gateway), and `--jwt-secret`
//! signs the customers' tokens the way the replicas verify them (no development tokens there).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Interaction-to-push latency against one server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host and port of the server (embedded default, development tokens on), or several
    /// gateways separated by commas.
    #[arg(long, default_value = "127.0.0.1:8000", value_delimiter = ',')]
    server: Vec<String>,
    /// Sign tokens with this HS256 secret (the replicas' `auth.jwt_secret`) instead of asking
    /// the server for development tokens.
    #[arg(long, env = "FP_JWT_SECRET")]
    jwt_secret: Option<String>,
    /// Customers signed in and subscribed.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Interactions per second sent.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds at the start whose interactions are sent but not measured (the worker's
    /// partition assignment and first loads of each customer's state fall there); counted
    /// within `--seconds`.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
}

struct Customer {
    token: String,
    /// Where its interactions are sent.
    mutations: String,
    /// When the interaction in flight was sent.
    sent: Mutex<Option<Instant>>,
}

#[path = "tokens.rs"]
mod tokens;
use tokens::token;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    if args.server.is_empty() {
        bail!("no --server");
    }
    let items: Value = http
        .post(format!("http://{}/graphql", args.server[0]))
        .json(&json!({"query": "{ items(first: 200) { id } }"}))
        .send()
        .await?
        .json()
        .await?;
    let items: Vec<String> = items["data"]["items"]
        .as_array()
        .context("no items")?
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect();
    if items.is_empty() {
        bail!("the catalogue is empty");
    }
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    // Set when sending starts: interactions sent before it are not measured.
    let measure_from: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let mut customers = Vec::with_capacity(args.users);
    let mut ready = Vec::new();
    for n in 0..args.users {
        let user = format!("load-{n:04}");
        let subscribed = &args.server[n % args.server.len()];
        let customer = Arc::new(Customer {
            token: token(&http, subscribed, args.jwt_secret.as_deref(), &user).await?,
            mutations: args.server[(n + 1) % args.server.len()].clone(),
            sent: Mutex::new(None),
        });
        let mut request = format!("ws://{subscribed}/graphql").into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", customer.token)}});
        socket.send(Message::Text(init.to_string().into())).await?;
        socket.next().await.context("no ack")??;
        let subscribe = json!({"id": "r", "type": "subscribe", "payload": {"query": "subscription { recommendations(first: 10) { id } }"}});
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await?;
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(first_rx);
        let (customer_rx, latencies, measure_from) =
            (customer.clone(), latencies.clone(), measure_from.clone());
        tokio::spawn(async move {
            let mut first = Some(first_tx);
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if value["type"] != "next" {
                    continue;
                }
                if let Some(first) = first.take() {
                    let _ = first.send(());
                    continue;
                }
                if let Some(sent) = customer_rx.sent.lock().take()
                    && measure_from.get().is_some_and(|from| sent >= *from)
                {
                    let micros = sent.elapsed().as_micros() as u64;
                    let _ = latencies.lock().record(micros.max(1));
                }
            }
        });
        customers.push(customer);
    }
    for first in ready {
        tokio::time::timeout(Duration::from_secs(30), first)
            .await
            .context("no first list within 30 s")??;
    }
    eprintln!(
        "{} customers subscribed; sending {} interactions/s for {} s",
        args.users, args.rate, args.seconds
    );

    let period = Duration::from_secs_f64(1.0 / args.rate);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let warmup = Duration::from_secs(args.warmup.min(args.seconds));
    let _ = measure_from.set(started + warmup);
    let (mut sent, mut busy, errors) = (0u64, 0u64, Arc::new(Mutex::new(0u64)));
    let mut idle: VecDeque<usize> = (0..customers.len()).collect();
    let mut rng = rand::rng();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        ticker.tick().await;
        // A customer whose push arrived is free again.
        for (index, customer) in customers.iter().enumerate() {
            if customer.sent.lock().is_none() && !idle.contains(&index) {
                idle.push_back(index);
            }
        }
        let Some(index) = idle.pop_front() else {
            busy += 1;
            continue;
        };
        let customer = customers[index].clone();
        let item = items.choose(&mut rng).expect("items is not empty").clone();
        *customer.sent.lock() = Some(Instant::now());
        sent += 1;
        let (http, server, errors) = (http.clone(), customer.mutations.clone(), errors.clone());
        tokio::spawn(async move {
            let answer = http
                .post(format!("http://{server}/graphql"))
                .bearer_auth(&customer.token)
                .json(&json!({
                    "query": "mutation($item: String!) { trackInteraction(itemId: $item, kind: CLICK) }",
                    "variables": {"item": item},
                }))
                .send()
                .await;
            let ok = match answer {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .map(|v| v["data"]["trackInteraction"] == true)
                    .unwrap_or(false),
                Err(_) => false,
            };
            if !ok {
                *errors.lock() += 1;
                customer.sent.lock().take();
            }
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let unanswered = customers.iter().filter(|c| c.sent.lock().is_some()).count();
    let histogram = latencies.lock();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "sent {sent} interactions in {elapsed:.1} s ({:.0}/s), {busy} ticks with every customer busy, {} failed, {unanswered} without a push after 5 s",
        sent as f64 / elapsed,
        *errors.lock()
    );
    println!(
        "interaction → pushed list ({} measured after a {} s warm-up): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        histogram.len(),
        warmup.as_secs(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    Ok(())
}
