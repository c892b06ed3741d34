//! CSV replay: feeds recorded ticks through the same path as live ones.
//!
//! The file has a header row naming at least `ts`, `symbol` and `price`; `size`, `bid` and
//! `ask` are optional (size defaults to 0, bid and ask to the price). `ts` is RFC 3339 or epoch
//! milliseconds. Rows must be in time order per symbol. A row that cannot be read is skipped and
//! reported with its line number; the replay goes on.
//!
//! Every line is one row: a tick has no field that may hold a line break, so the file is read a
//! line at a time and each line parsed as CSV on its own. A quote left open therefore spoils
//! only its own line (reported as such) instead of swallowing the rows after it, and every row
//! is accounted for: `published + skipped = rows`. Blank lines are not rows.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::events::Tick;
use crate::source::publish_tick;
use finpulse_bus::envelope::EventPayload;
use finpulse_bus::{EventLog, StreamError, StreamMetrics};

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
    /// Rows read (lines after the header that are not blank).
    pub rows: u64,
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

/// Longest line read as a row; a longer one is skipped (read to its end, not kept).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reads the next line of `reader` into `line` without its line break, keeping at most
/// [`MAX_LINE_BYTES`]. `None` at the end of the file; `Some(false)` for a line that was longer.
fn next_line(
    reader: &mut impl std::io::BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        any = true;
        let (chunk, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffer[..end], Some(end + 1)),
            None => (buffer, None),
        };
        if fits && line.len() + chunk.len() <= MAX_LINE_BYTES {
            line.extend_from_slice(chunk);
        } else {
            fits = false;
        }
        let consumed = ended.unwrap_or(buffer.len());
        reader.consume(consumed);
        if ended.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(any.then_some(fits))
}

/// One line as a CSV record; an odd number of quotes is a quote left open.
fn record(line: &[u8]) -> Result<csv::StringRecord, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the line is not UTF-8".to_owned())?;
    if text.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Err("a quote is opened and never closed".into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut row = csv::StringRecord::new();
    match reader.read_record(&mut row) {
        Ok(true) => Ok(row),
        Ok(false) => Err("the line holds no record".into()),
        Err(e) => Err(e.to_string()),
    }
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
    let file = std::fs::File::open(path).map_err(|e| source_error(e.to_string()))?;
    let bytes_total = file
        .metadata()
        .map_err(|e| source_error(e.to_string()))?
        .len();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut bytes_read = 0u64;
    let mut number = 0u64;
    // The header is the first line that is not blank.
    let columns = loop {
        number += 1;
        match next_line(&mut reader, &mut line).map_err(|e| source_error(e.to_string()))? {
            None => return Err(source_error("the file is empty".into())),
            Some(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Some(false) => return Err(source_error("the header line is too long".into())),
            Some(true) => {
                let header = record(&line).map_err(|e| source_error(format!("header: {e}")))?;
                break Columns::from_header(&header).map_err(source_error)?;
            }
        }
    };
    bytes_read += line.len() as u64;
    let mut summary = ReplaySummary {
        rows: 0,
        published: 0,
        skipped: 0,
        errors: Vec::new(),
    };
    let mut previous_ts: Option<DateTime<Utc>> = None;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        number += 1;
        let read = next_line(&mut reader, &mut line).map_err(|e| source_error(e.to_string()))?;
        let Some(fits) = read else { break };
        bytes_read += line.len() as u64 + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        summary.rows += 1;
        let tick = if fits {
            record(&line).and_then(|row| columns.tick(&row))
        } else {
            Err(format!("the line is longer than {MAX_LINE_BYTES} bytes"))
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
                warn!(line = number, %reason, "skipping unreadable replay row");
                summary.skipped += 1;
                if summary.errors.len() < 10 {
                    summary.errors.push(format!("line {number}: {reason}"));
                }
            }
        }
        progress(ReplayProgress {
            bytes_read: bytes_read.min(bytes_total),
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
    fn an_open_quote_spoils_only_its_own_line() {
        assert!(record(b"1,\"AAPL,190").unwrap_err().contains("quote"));
        assert_eq!(record(b"1,\"A,\"\"B\",3").unwrap().get(1), Some("A,\"B"));
        assert!(record(b"\xff,AAPL,1").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn lines_are_read_whole_or_reported_too_long() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let text = format!("a,b\r\n{long}\nlast");
        let mut reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut line = Vec::new();
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(true));
        assert_eq!(line, b"a,b");
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(false));
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(true));
        assert_eq!(line, b"last");
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), None);
    }

    #[test]
    fn symbols_follow_the_rule_of_the_api() {
        let header = csv::StringRecord::from(vec!["ts", "symbol", "price"]);
        let columns = Columns::from_header(&header).unwrap();
        for symbol in ["A B C", "<script>", "", &"X".repeat(33)] {
            let row = csv::StringRecord::from(vec!["1700000000000", symbol, "1"]);
            assert!(columns.tick(&row).is_err(), "{symbol:?} was accepted");
        }
        let row = csv::StringRecord::from(vec!["1700000000000", "brk.b", "1"]);
        assert_eq!(columns.tick(&row).unwrap().symbol, "BRK.B");
    }

    #[test]
    fn a_header_without_prices_is_refused() {
        let header = csv::StringRecord::from(vec!["ts", "symbol"]);
        assert!(Columns::from_header(&header).unwrap_err().contains("price"));
    }
}
