//! Fuzzing what arrives from outside the process: event bytes off the log and CSV files to
//! replay. Nothing may panic; every replayed row is accounted for. Cases:
//! `FINPULSE_FUZZ_CASES` (default 2 000).

use finpulse_bus::{Envelope, MemoryLog, StreamMetrics};
use finpulse_market::events::Tick;
use finpulse_market::processor::ensure_market_topics;
use finpulse_market::replay::replay_csv;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio_util::sync::CancellationToken;

fn cases(default: u32) -> u32 {
    std::env::var("FINPULSE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that are sometimes an envelope: random bytes, JSON with envelope fields of any value,
/// and real tick envelopes with one field replaced.
fn event_bytes() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("null".to_owned()),
        Just("\"market.tick\"".to_owned()),
        Just("1".to_owned()),
        Just("-1e400".to_owned()),
        Just("\"2026-03-02T14:30:00Z\"".to_owned()),
        Just("\"0190b6d0-0000-7000-8000-000000000000\"".to_owned()),
        "\"[ -~]{0,20}\"",
        Just("{\"symbol\":\"AAPL\",\"price\":1,\"size\":1,\"bid\":1,\"ask\":1,\"ts\":\"2026-03-02T14:30:00Z\"}".to_owned()),
        Just("{\"symbol\":\"a b\",\"price\":\"NaN\"}".to_owned()),
        Just(format!("{}1{}", "[".repeat(200), "]".repeat(200))),
    ];
    let real = Envelope::wrap(&Tick {
        symbol: "AAPL".into(),
        price: 190.0,
        size: 10.0,
        bid: 189.9,
        ask: 190.1,
        ts: chrono::Utc::now(),
    })
    .unwrap()
    .to_bytes()
    .unwrap();
    let payload = prop_oneof![
        field.clone(),
        (
            "[ -~]{0,8}",
            any::<f64>(),
            any::<f64>(),
            prop_oneof![
                Just("1700000000000"),
                Just("\"x\""),
                Just("\"2026-03-02T14:30:00Z\"")
            ]
        )
            .prop_map(|(symbol, price, size, ts)| format!(
                "{{\"symbol\":{},\"price\":{},\"size\":{},\"bid\":1,\"ask\":1,\"ts\":{ts}}}",
                serde_json::to_string(&symbol).unwrap(),
                serde_json::Number::from_f64(price).map_or("null".into(), |n| n.to_string()),
                serde_json::Number::from_f64(size).map_or("null".into(), |n| n.to_string()),
            )),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        // A real envelope with a few bytes changed or cut short.
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4).prop_flat_map(
            move |edits| {
                let mut bytes = real.clone();
                for (at, byte) in &edits {
                    let i = at.index(bytes.len());
                    bytes[i] = *byte;
                }
                (0..=bytes.len()).prop_map(move |cut| bytes[..cut].to_vec())
            }
        ),
        // A well-formed envelope around any payload.
        payload.prop_map(|payload| format!(
            "{{\"id\":\"0190b6d0-0000-7000-8000-000000000000\",\"type\":\"market.tick\",\"version\":1,\"key\":\"AAPL\",\"ts\":\"2026-03-02T14:30:00Z\",\"payload\":{payload}}}"
        )
        .into_bytes()),
        (field.clone(), field.clone(), field.clone(), field.clone(), field.clone(), field).prop_map(
            |(id, ty, version, key, ts, payload)| format!(
                "{{\"id\":{id},\"type\":{ty},\"version\":{version},\"key\":{key},\"ts\":{ts},\"payload\":{payload}}}"
            )
            .into_bytes()
        ),
    ]
}

#[test]
fn no_bytes_crash_event_decoding() {
    let total = cases(2_000);
    let decoded = std::cell::Cell::new(0u32);
    runner(total)
        .run(&event_bytes(), |bytes| {
            if let Ok(envelope) = Envelope::from_bytes(&bytes)
                && envelope.decode::<Tick>().is_ok()
            {
                decoded.set(decoded.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz envelopes: {total} cases, {} decoded as ticks, no crash",
        decoded.get()
    );
}

/// A replay file's lines: good rows, rows with hostile cells, open quotes, blanks, junk.
fn replay_line() -> impl Strategy<Value = String> {
    let cell = prop_oneof![
        Just("AAPL".to_owned()),
        Just("\"AAPL\"".to_owned()),
        Just("\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("1700000000000".to_owned()),
        Just("2026-03-02T14:30:00Z".to_owned()),
        Just("-1".to_owned()),
        Just("NaN".to_owned()),
        Just("1e309".to_owned()),
        Just(String::new()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    prop_oneof![
        4 => ("(1[0-9]{12})", prop_oneof![Just("AAPL"), Just("msft"), Just("BTC-USD")], "[1-9][0-9]{0,3}(\\.[0-9]{1,2})?")
            .prop_map(|(ts, symbol, price)| format!("{ts},{symbol},{price},10")),
        4 => prop::collection::vec(cell, 0..7).prop_map(|cells| cells.join(",")),
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
    ]
}

#[test]
fn every_replayed_row_is_published_or_skipped_and_nothing_crashes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    let total = cases(2_000) / 4;
    let rows_seen = std::cell::Cell::new(0u64);
    let lines = prop::collection::vec(replay_line(), 0..40);
    runner(total)
        .run(&(lines, any::<bool>()), |(lines, crlf)| {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("ts,symbol,price,size{newline}");
            for line in &lines {
                text.push_str(line);
                text.push_str(newline);
            }
            std::fs::write(&path, &text).unwrap();
            let expected_rows = lines
                .iter()
                .filter(|l| !l.bytes().all(|b| b.is_ascii_whitespace()))
                .count() as u64;
            let summary = runtime.block_on(async {
                let log = MemoryLog::new(Default::default());
                ensure_market_topics(&log, 2).await.unwrap();
                replay_csv(
                    &path,
                    0.0,
                    &log,
                    &StreamMetrics::unregistered(),
                    CancellationToken::new(),
                    |_| {},
                )
                .await
                .unwrap()
            });
            rows_seen.set(rows_seen.get() + summary.rows);
            prop_assert_eq!(summary.rows, expected_rows, "{:?}", lines);
            prop_assert_eq!(summary.published + summary.skipped, summary.rows);
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz replay: {total} files, {} rows, every row accounted for, no crash",
        rows_seen.get()
    );
}
