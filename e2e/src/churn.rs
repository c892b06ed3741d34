//! `finpulse-churn`: subscribes and unsubscribes over and over on one socket, each time to a
//! symbol drawn at random from `--symbols`, and reports the server's resident memory and
//! fan-out channel count before, after, and once the socket is gone. A fan-out that kept a
//! channel per name ever asked for grows here; one that frees what it made returns to its
//! baseline. `scripts/bench-churn.sh` runs it against a release build.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Subscription churn against one server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host and port of the server.
    #[arg(long, default_value = "127.0.0.1:8000")]
    server: String,
    /// Subscribe/unsubscribe cycles.
    #[arg(long, default_value_t = 100_000)]
    cycles: u64,
    /// Subscriptions open at a time.
    #[arg(long, default_value_t = 20)]
    window: u64,
    /// Symbols to draw from (the server must know them: simulator or `instruments`).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// PID of the server, to read its memory.
    #[arg(long)]
    server_pid: u32,
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("failed to read /proc status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")?;
    Ok(kib / 1024.0)
}

async fn channels(server: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("http://{server}/metrics"))
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix("finpulse_fanout_channels "))
        .and_then(|v| v.trim().parse().ok())
        .context("no finpulse_fanout_channels in /metrics")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.symbols.is_empty() {
        bail!("--symbols names none");
    }
    let before = (rss_mib(args.server_pid)?, channels(&args.server).await?);
    let mut request = format!("ws://{}/graphql", args.server).into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(Message::Text(
            json!({"type": "connection_init"}).to_string().into(),
        ))
        .await?;
    // The ack.
    socket.next().await.context("no ack")??;
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut peak = 0f64;
    let mut cycle = 0;
    while cycle < args.cycles {
        let batch = args.window.min(args.cycles - cycle);
        for slot in 0..batch {
            let symbol = &args.symbols[rng.random_range(0..args.symbols.len())];
            let query = format!("subscription {{ ticks(symbols: [\"{symbol}\"]) {{ price }} }}");
            let message =
                json!({"type": "subscribe", "id": format!("s{slot}"), "payload": {"query": query}});
            socket
                .send(Message::Text(message.to_string().into()))
                .await?;
        }
        for slot in 0..batch {
            let message = json!({"type": "complete", "id": format!("s{slot}")});
            socket
                .send(Message::Text(message.to_string().into()))
                .await?;
        }
        // Answers (ticks, errors) are read and dropped so the server never waits on us.
        while let Ok(Some(frame)) =
            tokio::time::timeout(Duration::from_millis(1), socket.next()).await
        {
            if let Message::Close(frame) = frame? {
                bail!("the server closed the socket: {frame:?}");
            }
        }
        cycle += batch;
        if cycle % 10_000 < args.window {
            peak = peak.max(rss_mib(args.server_pid)?);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let during = (rss_mib(args.server_pid)?, channels(&args.server).await?);
    socket.close(None).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = (rss_mib(args.server_pid)?, channels(&args.server).await?);
    println!(
        "cycles {} over {} symbols in {elapsed:.1} s ({:.0} subscribe+complete/s)",
        args.cycles,
        args.symbols.len(),
        args.cycles as f64 / elapsed
    );
    println!("before      RSS {:.1} MiB, channels {}", before.0, before.1);
    println!("peak        RSS {peak:.1} MiB");
    println!("last cycle  RSS {:.1} MiB, channels {}", during.0, during.1);
    println!("socket gone RSS {:.1} MiB, channels {}", after.0, after.1);
    Ok(())
}
