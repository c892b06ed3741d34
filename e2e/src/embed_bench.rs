//! `finpulse-embed-bench`: embedding throughput and latency of finpulse's inference layer, to
//! set beside `scripts/bench-embed.py` (Python onnxruntime + tokenizers on the same model files,
//! the same sentences and the same thread count).
//!
//! - single: one caller, one sentence per call, back to back;
//! - batched: `--callers` concurrent callers, one sentence per call: the micro-batcher groups
//!   what queues up while the model runs;
//! - rate: calls of one sentence at a fixed rate (open loop: a call's latency counts from when
//!   it was due, so a stall cannot hide), p50/p99.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use finpulse_inference::{Inference, InferenceConfig, InferenceMetrics};
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The model manifest.
    #[arg(long, default_value = "models.toml")]
    manifest: PathBuf,
    /// ONNX Runtime threads inside one run.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Most texts per run.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// Concurrent callers in the batched phase.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Calls per second in the rate phase.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
}

/// The benchmark sentences: the same 256 that `scripts/bench-embed.py` builds.
fn sentences() -> Vec<String> {
    let subjects = [
        "The central bank",
        "Apple",
        "My account",
        "The customer",
        "Bitcoin",
        "The fund",
        "Our support team",
        "The bond market",
    ];
    let verbs = [
        "raised",
        "cut",
        "reported",
        "questioned",
        "reviewed",
        "blocked",
        "confirmed",
        "delayed",
    ];
    let objects = [
        "interest rates by a quarter point",
        "its quarterly revenue forecast",
        "a duplicate card payment",
        "the wire transfer to Germany",
        "the overnight funding costs",
        "a refund for the failed order",
        "the password reset request",
        "dividend payments for next year",
    ];
    let tails = [
        "after a long meeting on Wednesday.",
        "despite warnings from analysts.",
        "and markets reacted quickly.",
        "which surprised most investors.",
    ];
    let mut out = Vec::new();
    for i in 0..256usize {
        out.push(format!(
            "{} {} {} {}",
            subjects[i % 8],
            verbs[(i / 8) % 8],
            objects[(i / 64 + i) % 8],
            tails[(i / 2) % 4]
        ));
    }
    out
}

fn report(name: &str, texts: u64, elapsed: f64) {
    println!(
        "{name:<8} {texts:>7} texts in {elapsed:.1} s: {:.1} texts/s",
        texts as f64 / elapsed
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let metrics = InferenceMetrics::unregistered();
    let config = InferenceConfig {
        manifest: args.manifest.clone(),
        intra_threads: args.threads,
        max_batch: args.max_batch,
        max_wait: Duration::ZERO,
        queue: 4096,
    };
    let inference = tokio::task::spawn_blocking(move || Inference::load(&config, &metrics))
        .await?
        .context("failed to load the models")?;
    let embedder = inference.embedder(None)?;
    let sentences = Arc::new(sentences());
    // Warm up: first runs allocate.
    embedder.embed(sentences[..32].to_vec()).await?;
    let window = Duration::from_secs_f64(args.seconds);

    // Single.
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < window {
        embedder
            .embed_one(&sentences[done as usize % sentences.len()])
            .await?;
        done += 1;
    }
    report("single", done, started.elapsed().as_secs_f64());

    // Batched: many callers.
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..args.callers {
        let (embedder, sentences) = (embedder.clone(), sentences.clone());
        callers.spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < window {
                let text = &sentences[(caller * 7 + done as usize) % sentences.len()];
                embedder.embed_one(text).await?;
                done += 1;
            }
            anyhow::Ok(done)
        });
    }
    let mut total = 0;
    while let Some(done) = callers.join_next().await {
        total += done??;
    }
    report("batched", total, started.elapsed().as_secs_f64());

    // Fixed rate, open loop.
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let calls = (args.seconds * args.rate) as usize;
    let latencies = Arc::new(parking_lot::Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    // Paced by a thread of its own: tokio's timer has millisecond granularity, which would
    // add up to a millisecond of lateness to every call.
    let runtime = tokio::runtime::Handle::current();
    let pacer = {
        let (embedder, sentences, latencies) =
            (embedder.clone(), sentences.clone(), latencies.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut pending = Vec::with_capacity(calls);
            for i in 0..calls {
                let due = started + interval * i as u32;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let (embedder, sentences, latencies) =
                    (embedder.clone(), sentences.clone(), latencies.clone());
                pending.push(runtime.spawn(async move {
                    embedder.embed_one(&sentences[i % sentences.len()]).await?;
                    let micros = due.elapsed().as_micros() as u64;
                    latencies.lock().saturating_record(micros.max(1));
                    anyhow::Ok(())
                }));
            }
            pending
        })
    };
    let pending = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;
    for call in pending {
        call.await??;
    }
    let histogram = latencies.lock();
    println!(
        "rate     {calls} calls at {:.0}/s: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        args.rate,
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
    Ok(())
}
