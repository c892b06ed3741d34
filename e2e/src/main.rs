//! `finpulse-load`: opens many graphql-transport-ws connections with subscriptions against a
//! running finpulse, ramps them up, and reports connection acks per second, the time until the
//! server holds every subscription, delivered events per second, publish-to-client latency
//! (every event carries `publishedAt`) and the server's resident memory per subscription.
//!
//! Client sockets are spread over source addresses 127.0.0.1..=127.0.0.N so that tens of
//! thousands of connections do not exhaust one address's ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
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
    /// Host and port of the server.
    #[arg(long, default_value = "127.0.0.1:8000")]
    server: SocketAddr,
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
    /// PID of the server process, to read its resident memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
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
    let stream = socket.connect(args.server).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{}/graphql", args.server).into_client_request()?;
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
            r#"subscription {{ ticks(symbols: ["{symbol}"]) {{ symbol price publishedAt }} }}"#
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
        let published = published_at(&text);
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
    const KEY: &str = "\"publishedAt\":\"";
    let start = text.find(KEY)? + KEY.len();
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
    let baseline_rss = args.server_pid.map(rss_kib).transpose()?;
    let baseline_subs = server_subscriptions(&http, args.server)
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
        if server_subscriptions(&http, args.server).await? >= wanted {
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
    if let (Some(pid), Some(baseline)) = (args.server_pid, baseline_rss) {
        // Let the allocator settle before reading.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_kib(pid)?;
        println!(
            "server RSS             {:.1} MiB (+{:.1} MiB, {:.2} KiB per subscription, {:.2} KiB per connection)",
            rss as f64 / 1024.0,
            rss.saturating_sub(baseline) as f64 / 1024.0,
            rss.saturating_sub(baseline) as f64 / subscriptions as f64,
            rss.saturating_sub(baseline) as f64 / args.connections as f64
        );
    }
    if args.duration_secs > 0.0 {
        // Skip the burst of the first seconds: measure steady state only.
        tokio::time::sleep(Duration::from_secs(2)).await;
        phase_tx.send_replace(Phase::Measuring);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(args.duration_secs)).await;
        phase_tx.send_replace(Phase::Done);
        let elapsed = window.elapsed().as_secs_f64();
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
        println!(
            "latency publish→client p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            histogram.value_at_quantile(0.50) as f64 / 1000.0,
            histogram.value_at_quantile(0.90) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
            histogram.max() as f64 / 1000.0
        );
        if let Some(pid) = args.server_pid {
            println!(
                "server RSS after run   {:.1} MiB",
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
