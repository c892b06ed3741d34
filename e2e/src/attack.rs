//! `finpulse-attack`: what one hostile client does to everybody else. For `--duration-secs` it
//! probes `/healthz` every few milliseconds and, with `--attackers N`, runs N clients that send
//! the documents which used to freeze or crash the server (a fragment bomb, 2 000-deep lists,
//! 500 aliases) as fast as answers come back. It reports the probe's latency percentiles and
//! what the attackers got back, so a run with and a run without attackers can be set side by
//! side (`scripts/bench-attack.sh` does both and runs `finpulse-load` for tick latency meanwhile).
//!
//! It only talks to the address it is given (loopback in the script), and stops by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;

/// Hostile clients beside a health probe.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    server: String,
    /// Concurrent attacking clients; 0 only probes.
    #[arg(long, default_value_t = 4)]
    attackers: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20.0)]
    duration_secs: f64,
    /// Milliseconds between health probes.
    #[arg(long, default_value_t = 5)]
    probe_every_ms: u64,
}

/// The documents of the hardening issue's findings 1 and 2, and a wide one.
fn attacks() -> Vec<String> {
    let mut bomb = String::from("query { ...F24 }\nfragment F0 on QueryRoot { symbols }\n");
    for level in 1..=24 {
        let below = level - 1;
        bomb.push_str(&format!(
            "fragment F{level} on QueryRoot {{ ...F{below} ...F{below} }}\n"
        ));
    }
    let deep = format!(
        "{{ quote(symbol: {}\"A\"{}) {{ price }} }}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let wide: String = (0..500).map(|i| format!("a{i}: symbols ")).collect();
    vec![bomb, deep, format!("{{ {wide} }}")]
}

fn percentile(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration_secs);
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let documents = Arc::new(attacks());
    let mut attackers = Vec::new();
    for index in 0..args.attackers {
        let (client, url, sent, refused, documents) = (
            client.clone(),
            format!("{}/graphql", args.server),
            sent.clone(),
            refused.clone(),
            documents.clone(),
        );
        attackers.push(tokio::spawn(async move {
            let mut turn = index;
            while Instant::now() < deadline {
                let query = &documents[turn % documents.len()];
                turn += 1;
                let response = client
                    .post(&url)
                    .json(&json!({ "query": query }))
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                if let Ok(response) = response
                    && (response.status() == 400
                        || response.status() == 429
                        || response.status() == 200)
                {
                    let body = response.text().await.unwrap_or_default();
                    if body.contains("\"code\"") {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let mut probe = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let health = format!("{}/healthz", args.server);
    let mut failures = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        match client.get(&health).send().await {
            Ok(response) if response.status().is_success() => {
                probe.record(started.elapsed().as_micros().max(1) as u64)?;
            }
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(args.probe_every_ms)).await;
    }
    for attacker in attackers {
        attacker.await.context("attacker task")?;
    }
    println!(
        "attackers {}: {} hostile requests sent, {} refused with a code",
        args.attackers,
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "healthz probes {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failed {}",
        probe.len(),
        percentile(&probe, 0.5),
        percentile(&probe, 0.99),
        probe.max() as f64 / 1000.0,
        failures
    );
    Ok(())
}
