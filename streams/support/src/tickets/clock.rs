//! The clock tickets are timed by: wall time that tests can pause and advance.

use chrono::{DateTime, Duration, Utc};

/// Wall-clock time advanced by tokio's clock from an anchor: the same as `Utc::now()` in a
/// running server (to the drift of the monotonic clock over its uptime), and paused and
/// advanced with tokio's in tests.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl Clock {
    /// A clock reading the wall time now.
    pub fn start() -> Self {
        Self {
            wall: Utc::now(),
            started: tokio::time::Instant::now(),
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed();
        // Microseconds in an i64 last 292,000 years of uptime.
        self.wall + Duration::microseconds(elapsed.as_micros() as i64)
    }
}
