//! What processors put on the log for consumers downstream, and what they set aside.

use finpulse_market::events::{DeadLetter, TICKS_DEAD_LETTER_TOPIC, TICKS_TOPIC};
use serde_json::json;

use crate::helpers::{PATIENCE, spawn_app, tick};

#[tokio::test]
async fn insights_go_on_the_log_in_the_versioned_envelope() {
    use finpulse_market::events::INSIGHTS_TOPIC;
    let app = spawn_app().await;
    // Joined before any insight exists, so it reads every one.
    let mut reader = app
        .handle
        .log()
        .consumer(INSIGHTS_TOPIC, "test-downstream")
        .await
        .unwrap();
    app.publish_ticks(&[tick("AAPL", 0, 190.0, 1.0), tick("AAPL", 60, 191.0, 1.0)])
        .await;
    app.handle.wait_until_drained().await;
    let records = tokio::time::timeout(PATIENCE, reader.poll(10))
        .await
        .expect("an insight is appended")
        .unwrap();
    assert!(!records.is_empty());
    for record in records {
        let envelope = finpulse_bus::Envelope::from_bytes(&record.payload).unwrap();
        assert_eq!(envelope.event_type, "market.insight");
        let finpulse_market::processor::InsightEvent(insight) = envelope.decode().unwrap();
        assert_eq!(insight.symbol, "AAPL");
        assert_eq!(record.key.as_deref(), Some(&b"AAPL"[..]));
    }
}

#[tokio::test]
async fn malformed_events_are_parked_counted_and_skipped() {
    let app = spawn_app().await;
    let log = app.handle.log();
    log.append(TICKS_TOPIC, "AAPL", bytes::Bytes::from_static(b"{not json"))
        .await
        .unwrap();
    let future_version = json!({
        "id": "0190f0e4-0000-7000-8000-000000000001", "type": "market.tick", "version": 99,
        "key": "AAPL", "ts": "2026-03-02T14:30:00Z", "payload": {}
    });
    log.append(
        TICKS_TOPIC,
        "AAPL",
        future_version.to_string().into_bytes().into(),
    )
    .await
    .unwrap();
    let negative_price = finpulse_bus::Envelope::wrap(&tick("AAPL", 0, -5.0, 1.0)).unwrap();
    log.append(
        TICKS_TOPIC,
        "AAPL",
        negative_price.to_bytes().unwrap().into(),
    )
    .await
    .unwrap();
    app.publish_ticks(&[tick("AAPL", 1, 100.0, 1.0)]).await;
    app.handle.wait_until_drained().await;

    assert_eq!(
        app.metric_sum("finpulse_processor_parked_events_total{")
            .await,
        3.0
    );
    let parked = app
        .handle
        .store()
        .dead_letters
        .parked_events(10)
        .await
        .unwrap();
    assert_eq!(parked.len(), 3);
    assert!(
        parked.iter().any(|p| p.reason.contains("version")),
        "{parked:?}"
    );
    assert!(
        parked.iter().any(|p| p.payload.as_slice() == b"{not json"),
        "the original bytes are kept"
    );
    // They are on the dead-letter topic too, for tools downstream.
    let mut dead = log
        .consumer(TICKS_DEAD_LETTER_TOPIC, "dead-letter-reader")
        .await
        .unwrap();
    let mut letters = Vec::new();
    while letters.len() < 3 {
        for record in tokio::time::timeout(PATIENCE, dead.poll(10))
            .await
            .expect("dead letters arrive")
            .unwrap()
        {
            letters.push(serde_json::from_slice::<DeadLetter>(&record.payload).unwrap());
        }
    }
    let mut codes: Vec<&str> = letters.iter().map(|l| l.reason_code.as_str()).collect();
    codes.sort();
    assert_eq!(
        codes,
        ["invalid_payload", "malformed", "unsupported_version"]
    );
    // The good tick after them was processed.
    let (_, body) = app
        .graphql(r#"{ quote(symbol: "AAPL") { price } }"#, json!({}), None)
        .await;
    assert_eq!(body["data"]["quote"]["price"], json!(100.0));
}
