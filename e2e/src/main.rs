//! `finpulse-load`: opens many graphql-transport-ws connections with subscriptions against a
//! running finpulse, ramps them up, and reports connection acks per second, the time until the
//! server holds every subscription, delivered events per second, publish-to-client latency
//! (every event carries `publishedAt`) and the server's resident memory per subscription.
//!
//! Client sockets are spread over source addresses 127.0.0.1..=127.0.0.N so that tens of
//! thousands of connections do not exhaust one address's ephemeral ports.
//!
//! Several `--server`s spread the connections round robin (gateway replicas); several
//! `--server-pid`s are each reported (RSS, and CPU seconds spent in the measuring window). With
//! `--kafka-brokers`, the tool is also the market: it produces one tick per symbol per second to
//! the ticks topic itself, stamped with the time of producing, and measures from that stamp
//! (the tick's `ts`) to the client, i.e. the whole distributed path Kafka → worker → Redis →
//! gateway → socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use finpulse_bus::Envelope;
use finpulse_market::events::Tick;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::net::TcpSocket;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Load generator for finpulse's WebSocket endpoint.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host and port of the server; several (comma-separated) share the connections.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8000")]
    server: Vec<SocketAddr>,
    /// Connections to open.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Subscriptions per connection.
    #[arg(long, default_value_t = 1)]
    subscriptions: usize,
    /// Symbols to spread `ticks` subscriptions over, round robin (one symbol each).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "AAPL,MSFT,NVDA,AMZN,GOOGL,TSLA,JPM,BTC-USD"
    )]
    symbols: Vec<String>,
    /// Seconds over which connections are opened; 0 opens them all at once.
    #[arg(long, default_value_t = 0.0)]
    ramp_secs: f64,
    /// Seconds to measure deliveries once every subscription is live; 0 measures none.
    #[arg(long, default_value_t = 30.0)]
    duration_secs: f64,
    /// Source addresses 127.0.0.1 ..= 127.0.0.<sources> for client sockets.
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// PIDs of server processes (comma-separated), to read memory and CPU time from /proc.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Produce the ticks to these Kafka brokers (and measure from their production).
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Topic the ticks go to (with the deployment's log namespace in front).
    #[arg(long, default_value = "market.ticks")]
    kafka_topic: String,
    /// Most concurrent connection handshakes in flight.
    #[arg(long, default_value_t = 256)]
    handshake_concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warming,
    Measuring,
    Done,
}

#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    events: AtomicU64,
    errors: AtomicU64,
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("failed to read /proc status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// User plus system CPU seconds a process has used.
fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("failed to read /proc stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .map(|&i| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum();
    // USER_HZ is 100 on Linux.
    Ok(ticks / 100.0)
}

/// Subscriptions held over every server.
async fn all_subscriptions(
    client: &reqwest::Client,
    servers: &[SocketAddr],
) -> anyhow::Result<u64> {
    let mut total = 0;
    for server in servers {
        total += server_subscriptions(client, *server).await?;
    }
    Ok(total)
}

/// Produces one tick per symbol per second, spread evenly, stamped with the time of producing,
/// until `phase` is done.
async fn produce_ticks(
    brokers: String,
    topic: String,
    symbols: Vec<String>,
    mut phase: tokio::sync::watch::Receiver<Phase>,
) -> anyhow::Result<()> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()
        .context("failed to create the Kafka producer")?;
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / symbols.len() as f64));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prices = vec![100.0_f64; symbols.len()];
    let mut next = 0;
    loop {
        tokio::select! {
            _ = pace.tick() => {}
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Done {
                    return Ok(());
                }
                continue;
            }
        }
        // A gentle zig-zag: the price path does not matter here, only the timing.
        prices[next] += if next % 2 == 0 { 0.01 } else { -0.01 };
        let tick = Tick {
            symbol: symbols[next].clone(),
            price: prices[next],
            size: 1.0,
            bid: prices[next] - 0.01,
            ask: prices[next] + 0.01,
            ts: Utc::now(),
        };
        let payload = Envelope::wrap(&tick)
            .and_then(|e| e.to_bytes())
            .context("failed to encode a tick")?;
        producer
            .send(
                FutureRecord::to(&topic)
                    .key(tick.symbol.as_str())
                    .payload(payload.as_slice()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("failed to produce a tick: {e}"))?;
        next = (next + 1) % symbols.len();
    }
}

async fn server_subscriptions(client: &reqwest::Client, server: SocketAddr) -> anyhow::Result<u64> {
    let text = client
        .get(format!("http://{server}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("finpulse_ws_subscriptions "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// One connection: handshake, init, subscriptions, then count and time every event.
async fn connection(
    index: usize,
    args: Arc<Args>,
    counters: Arc<Counters>,
    latencies: Arc<Mutex<Histogram<u64>>>,
    mut phase: tokio::sync::watch::Receiver<Phase>,
    handshakes: Arc<tokio::sync::Semaphore>,
) -> anyhow::Result<()> {
    let permit = handshakes.acquire().await?;
    let source = Ipv4Addr::new(
        127,
        0,
        0,
        1 + (index % usize::from(args.sources.max(1))) as u8,
    );
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let server = args.server[index % args.server.len()];
    let stream = socket.connect(server).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{server}/graphql").into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .context("websocket handshake")?;
    ws.send(Message::Text(
        json!({"type": "connection_init"}).to_string().into(),
    ))
    .await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => bail!("no connection_ack: {other:?}"),
        }
    }
    counters.acked.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    for sub in 0..args.subscriptions {
        let symbol = &args.symbols[(index * args.subscriptions + sub) % args.symbols.len()];
        let query = format!(
            r#"subscription {{ ticks(symbols: ["{symbol}"]) {{ symbol price ts publishedAt }} }}"#
        );
        let message =
            json!({"id": sub.to_string(), "type": "subscribe", "payload": {"query": query}});
        ws.send(Message::Text(message.to_string().into())).await?;
    }
    // Samples stay local (a histogram per connection would cost ~250 KiB each) and are merged
    // into the shared histogram when the connection stops.
    let mut local: Vec<u64> = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Done {
                    break;
                }
                continue;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let received = Utc::now();
        if *phase.borrow() != Phase::Measuring {
            continue;
        }
        // Only the timestamp is needed: find it rather than parse the whole message, so the
        // load tool's own cost stays small next to the server's.
        let published = if args.kafka_brokers.is_some() {
            timestamp(&text, "ts")
        } else {
            published_at(&text)
        };
        match published {
            Some(published) => {
                let micros = (received - published.with_timezone(&Utc))
                    .num_microseconds()
                    .unwrap_or(0);
                local.push(micros.max(1) as u64);
                counters.events.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let mut histogram = latencies.lock().await;
    for micros in local {
        histogram.saturating_record(micros);
    }
    Ok(())
}

/// The `publishedAt` timestamp of a result, found by its key.
fn published_at(text: &str) -> Option<DateTime<chrono::FixedOffset>> {
    timestamp(text, "publishedAt")
}

/// The timestamp under `"key":"…"`, found rather than parsed out of the whole message.
fn timestamp(text: &str, key: &str) -> Option<DateTime<chrono::FixedOffset>> {
    let pattern = format!("\"{key}\":\"");
    let start = text.find(&pattern)? + pattern.len();
    let end = start + text[start..].find('"')?;
    DateTime::parse_from_rfc3339(&text[start..end]).ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    if args.symbols.is_empty() {
        bail!("--symbols must name at least one symbol");
    }
    let limit =
        rlimit::increase_nofile_limit(u64::MAX).context("failed to raise the open file limit")?;
    let needed = args.connections as u64 + 64;
    if limit < needed {
        bail!("open file limit {limit} is below the {needed} this run needs; raise the hard limit");
    }
    let http = reqwest::Client::new();
    if args.server.is_empty() {
        bail!("--server must name at least one server");
    }
    let baseline_rss: Vec<u64> = args
        .server_pid
        .iter()
        .map(|&pid| rss_kib(pid))
        .collect::<anyhow::Result<_>>()?;
    let baseline_subs = all_subscriptions(&http, &args.server)
        .await
        .context("server not reachable")?;
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let (phase_tx, phase_rx) = tokio::sync::watch::channel(Phase::Warming);
    let handshakes = Arc::new(tokio::sync::Semaphore::new(
        args.handshake_concurrency.max(1),
    ));

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let gap = if args.connections > 1 {
        Duration::from_secs_f64(args.ramp_secs / args.connections as f64)
    } else {
        Duration::ZERO
    };
    for index in 0..args.connections {
        tasks.spawn(connection(
            index,
            args.clone(),
            counters.clone(),
            latencies.clone(),
            phase_rx.clone(),
            handshakes.clone(),
        ));
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    let wanted = baseline_subs + (args.connections * args.subscriptions) as u64;
    let mut acked_at = None;
    let subscribed_at = loop {
        if acked_at.is_none() && counters.acked.load(Ordering::Relaxed) as usize >= args.connections
        {
            acked_at = Some(started.elapsed());
        }
        if all_subscriptions(&http, &args.server).await? >= wanted {
            break started.elapsed();
        }
        if let Some(Ok(Err(e))) = tasks.try_join_next() {
            bail!("a connection failed: {e:#}");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("subscriptions never all became live");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let acked_at = acked_at.unwrap_or(subscribed_at);
    let subscriptions = args.connections * args.subscriptions;
    println!("connections            {}", args.connections);
    println!("subscriptions          {subscriptions}");
    println!(
        "all acked after        {:.3} s ({:.0} connection acks/s)",
        acked_at.as_secs_f64(),
        args.connections as f64 / acked_at.as_secs_f64()
    );
    println!(
        "all subscribed after   {:.3} s ({:.0} subscriptions/s)",
        subscribed_at.as_secs_f64(),
        subscriptions as f64 / subscribed_at.as_secs_f64()
    );
    if !args.server_pid.is_empty() {
        // Let the allocator settle before reading.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for (&pid, &baseline) in args.server_pid.iter().zip(&baseline_rss) {
        let rss = rss_kib(pid)?;
        if args.server_pid.len() > 1 {
            // Which process holds which sockets is the caller's to know: no per-socket share.
            println!(
                "server {pid} RSS       {:.1} MiB (+{:.1} MiB)",
                rss as f64 / 1024.0,
                rss.saturating_sub(baseline) as f64 / 1024.0
            );
            continue;
        }
        println!(
            "server {pid} RSS       {:.1} MiB (+{:.1} MiB, {:.2} KiB per subscription, {:.2} KiB per connection)",
            rss as f64 / 1024.0,
            rss.saturating_sub(baseline) as f64 / 1024.0,
            rss.saturating_sub(baseline) as f64 / subscriptions as f64,
            rss.saturating_sub(baseline) as f64 / args.connections as f64
        );
    }
    let producer = args.kafka_brokers.clone().map(|brokers| {
        tokio::spawn(produce_ticks(
            brokers,
            args.kafka_topic.clone(),
            args.symbols.clone(),
            phase_rx.clone(),
        ))
    });
    if args.duration_secs > 0.0 {
        // Skip the burst of the first seconds: measure steady state only.
        tokio::time::sleep(Duration::from_secs(2)).await;
        phase_tx.send_replace(Phase::Measuring);
        let window = Instant::now();
        let cpu_before: Vec<f64> = args
            .server_pid
            .iter()
            .map(|&pid| cpu_secs(pid))
            .collect::<anyhow::Result<_>>()?;
        tokio::time::sleep(Duration::from_secs_f64(args.duration_secs)).await;
        phase_tx.send_replace(Phase::Done);
        let elapsed = window.elapsed().as_secs_f64();
        for (&pid, before) in args.server_pid.iter().zip(cpu_before) {
            let used = cpu_secs(pid)? - before;
            println!(
                "server {pid} CPU       {used:.2} s in {elapsed:.1} s ({:.1}% of one core)",
                100.0 * used / elapsed
            );
        }
        if let Some(producer) = producer {
            producer.await.context("the producer panicked")??;
        }
        let events = counters.events.load(Ordering::Relaxed);
        // Each connection merges its latencies into the shared histogram as it stops.
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                eprintln!("connection ended with an error: {e:#}");
            }
        }
        let histogram = latencies.lock().await;
        println!(
            "delivered events       {events} in {elapsed:.1} s ({:.0} events/s)",
            events as f64 / elapsed
        );
        let from = if args.kafka_brokers.is_some() {
            "kafka produce→client"
        } else {
            "publish→client"
        };
        println!(
            "latency {from} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            histogram.value_at_quantile(0.50) as f64 / 1000.0,
            histogram.value_at_quantile(0.90) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
            histogram.max() as f64 / 1000.0
        );
        for &pid in &args.server_pid {
            println!(
                "server {pid} RSS after run {:.1} MiB",
                rss_kib(pid)? as f64 / 1024.0
            );
        }
        println!(
            "undecodable messages   {}",
            counters.errors.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_publish_timestamp_of_a_result() {
        let text = r#"{"id":"0","type":"next","payload":{"data":{"ticks":{"symbol":"AAPL","price":1.0,"publishedAt":"2026-11-24T06:17:42.123456+00:00"}}}}"#;
        let at = published_at(text).unwrap();
        assert_eq!(at.timestamp_micros(), 1_795_501_062_123_456);
        assert!(published_at(r#"{"type":"next"}"#).is_none());
        assert!(published_at(r#"{"publishedAt":"not a time"}"#).is_none());
    }
}
