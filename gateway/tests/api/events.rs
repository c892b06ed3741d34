//! What processors put on the log for consumers downstream.

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
