//! CSV replay: feeds recorded ticks through the same path as live ones.
//!
//! The file has a header row naming at least `ts`, `symbol` and `price`; `size`, `bid` and
//! `ask` are optional (size defaults to 0, bid and ask to the price). `ts` is RFC 3339 or epoch
//! milliseconds. Rows must be in time order per symbol. A row that cannot be read is skipped and
//! reported with its line number; the replay goes on.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::publish_tick;
use crate::envelope::EventPayload;
use crate::events::Tick;
use crate::{EventLog, StreamError, StreamMetrics};

/// How a replay is going, reported after every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Bytes of the file consumed so far.
    pub bytes_read: u64,
    /// Size of the file.
    pub bytes_total: u64,
    /// Ticks published.
    pub published: u64,
    /// Rows skipped because they could not be read.
    pub skipped: u64,
}

/// The outcome of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Ticks published.
    pub published: u64,
    /// Rows skipped, with the first few reasons (`line N: why`).
    pub skipped: u64,
    /// Up to ten reasons for skipped rows.
    pub errors: Vec<String>,
}

#[derive(Debug)]
struct Columns {
    ts: usize,
    symbol: usize,
    price: usize,
    size: Option<usize>,
    bid: Option<usize>,
    ask: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<Self, String> {
        let find = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
        };
        let required = |names: &[&str]| {
            find(names).ok_or_else(|| format!("header has no `{}` column", names[0]))
        };
        Ok(Self {
            ts: required(&["ts", "timestamp", "time"])?,
            symbol: required(&["symbol", "ticker"])?,
            price: required(&["price", "last", "close"])?,
            size: find(&["size", "volume", "qty", "quantity"]),
            bid: find(&["bid"]),
            ask: find(&["ask"]),
        })
    }

    fn tick(&self, row: &csv::StringRecord) -> Result<Tick, String> {
        let cell = |i: usize| row.get(i).map(str::trim).unwrap_or("");
        let number = |i: usize, name: &str| {
            cell(i)
                .parse::<f64>()
                .map_err(|_| format!("{name} `{}` is not a number", cell(i)))
        };
        let price = number(self.price, "price")?;
        let optional = |i: Option<usize>, name: &str, default: f64| match i {
            Some(i) if !cell(i).is_empty() => number(i, name),
            _ => Ok(default),
        };
        let tick = Tick {
            symbol: cell(self.symbol).to_ascii_uppercase(),
            price,
            size: optional(self.size, "size", 0.0)?,
            bid: optional(self.bid, "bid", price)?,
            ask: optional(self.ask, "ask", price)?,
            ts: parse_ts(cell(self.ts))?,
        };
        tick.validate()?;
        Ok(tick)
    }
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Utc
            .timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| format!("timestamp {ms} is out of range"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("timestamp `{text}` is neither RFC 3339 nor epoch milliseconds"))
}

/// Publishes every row of `path` as a tick. `speed` 0 replays as fast as the log accepts;
/// otherwise gaps between row timestamps are slept, divided by `speed`.
pub async fn replay_csv(
    path: &Path,
    speed: f64,
    log: &dyn EventLog,
    metrics: &StreamMetrics,
    shutdown: CancellationToken,
    mut progress: impl FnMut(ReplayProgress) + Send,
) -> Result<ReplaySummary, StreamError> {
    let source_error = |reason: String| StreamError::Source {
        path: path.display().to_string(),
        reason,
    };
    let bytes_total = std::fs::metadata(path)
        .map_err(|e| source_error(e.to_string()))?
        .len();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| source_error(e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| source_error(e.to_string()))?
        .clone();
    let columns = Columns::from_header(&header).map_err(source_error)?;
    let mut summary = ReplaySummary {
        published: 0,
        skipped: 0,
        errors: Vec::new(),
    };
    let mut previous_ts: Option<DateTime<Utc>> = None;
    let mut row = csv::StringRecord::new();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // The reader sits at the start of the next record: its line is that record's line.
        let line = reader.position().line();
        let tick = match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => columns.tick(&row),
            Err(e) => Err(e.to_string()),
        };
        match tick {
            Ok(tick) => {
                if speed > 0.0 {
                    if let Some(previous) = previous_ts {
                        let gap = (tick.ts - previous).to_std().unwrap_or_default();
                        tokio::time::sleep(Duration::from_secs_f64(gap.as_secs_f64() / speed))
                            .await;
                    }
                    previous_ts = Some(tick.ts);
                }
                publish_tick(log, metrics, &tick).await?;
                summary.published += 1;
            }
            Err(reason) => {
                warn!(line, %reason, "skipping unreadable replay row");
                summary.skipped += 1;
                if summary.errors.len() < 10 {
                    summary.errors.push(format!("line {line}: {reason}"));
                }
            }
        }
        progress(ReplayProgress {
            bytes_read: reader.position().byte(),
            bytes_total,
            published: summary.published,
            skipped: summary.skipped,
        });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_with_optional_columns() {
        let header = csv::StringRecord::from(vec!["timestamp", "symbol", "price", "volume"]);
        let columns = Columns::from_header(&header).unwrap();
        let row = csv::StringRecord::from(vec!["1700000000000", "aapl", "190.5", "10"]);
        let tick = columns.tick(&row).unwrap();
        assert_eq!(tick.symbol, "AAPL");
        assert_eq!(tick.bid, 190.5);
        assert_eq!(tick.ts.timestamp_millis(), 1_700_000_000_000);
        let bad = csv::StringRecord::from(vec!["yesterday", "AAPL", "1", "1"]);
        assert!(columns.tick(&bad).unwrap_err().contains("yesterday"));
        let negative = csv::StringRecord::from(vec!["2026-01-02T15:00:00Z", "AAPL", "-1", "1"]);
        assert!(columns.tick(&negative).is_err());
    }

    #[test]
    fn a_header_without_prices_is_refused() {
        let header = csv::StringRecord::from(vec!["ts", "symbol"]);
        assert!(Columns::from_header(&header).unwrap_err().contains("price"));
    }
}
