//! Sources of market data: the built-in simulator and CSV replay. Both publish `market.tick`
//! envelopes to the event log and nothing else, exactly as an exchange adapter would.

use bytes::Bytes;

use crate::events::{TICKS_TOPIC, Tick};
use finpulse_bus::envelope::Envelope;
use finpulse_bus::{EventLog, StreamError, StreamMetrics};

/// Wraps a tick in an envelope and appends it to the ticks topic.
pub async fn publish_tick(
    log: &dyn EventLog,
    metrics: &StreamMetrics,
    tick: &Tick,
) -> Result<(), StreamError> {
    let envelope = Envelope::wrap(tick).map_err(StreamError::Encode)?;
    let bytes = envelope.to_bytes().map_err(StreamError::Encode)?;
    log.append(TICKS_TOPIC, &tick.symbol, Bytes::from(bytes))
        .await?;
    metrics.appended.with_label_values(&[TICKS_TOPIC]).inc();
    Ok(())
}
