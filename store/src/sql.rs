//! The store on a SQL engine: SQLite (the embedded default) or PostgreSQL, chosen by the
//! connection string. One implementation serves both through sqlx's `Any` driver: the
//! statements use only SQL both engines speak (`$N` parameters, `ON CONFLICT` upserts, epoch
//! millisecond integers), and each engine has its own migrations under `migrations/`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use tracing::{instrument, warn};

use finpulse_core::market::{Candle, Insight, InsightKind, Quote};

use crate::{
    DeadLetters, Health, MarketData, MarketWrite, ParkedEvent, ProcessorState, ProcessorStates,
    Result, StoreError, Watchlists,
};

/// The SQL engines the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: a file (or memory) in this process.
    Sqlite,
    /// PostgreSQL: a server shared by every replica.
    Postgres,
}

impl Engine {
    /// The engine a connection string names.
    pub fn of(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// [`Store`] on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    engine: Engine,
}

impl SqlStore {
    /// Connects to `url`: `sqlite:PATH` (created if missing), `sqlite::memory:`, or
    /// `postgres://user@host:port/db`.
    ///
    /// Migrations are not applied here; call [`SqlStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let engine = Engine::of(url)?;
        let (url, max_connections) = match engine {
            // An in-memory database exists per connection, so it must be a pool of one.
            Engine::Sqlite if url.contains(":memory:") => (url.to_owned(), 1),
            Engine::Sqlite if url.contains('?') => (url.to_owned(), 8),
            Engine::Sqlite => (format!("{url}?mode=rwc"), 8),
            Engine::Postgres => (url.to_owned(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL: readers never wait for the writer; NORMAL sync is durable at
                        // every checkpoint and fast; a busy writer is waited for, not an error.
                        connection
                            .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Self { pool, engine })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Applies the engine's migrations (`migrations/sqlite` or `migrations/postgres`).
    pub async fn migrate(&self) -> Result<()> {
        match self.engine {
            Engine::Sqlite => {
                sqlx::migrate!("../migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Engine::Postgres => {
                sqlx::migrate!("../migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }
}

/// The `data` column of each row, read as JSON; a row this build cannot read (written by a
/// newer release) is left out with a warning naming `what`.
pub(crate) fn decode_all<T: serde::de::DeserializeOwned>(
    rows: Vec<AnyRow>,
    what: &'static str,
) -> Result<Vec<T>> {
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let data: String = row.try_get("data")?;
        match serde_json::from_str(&data) {
            Ok(value) => values.push(value),
            Err(error) => warn!(what, %error, "skipped a row this build cannot read"),
        }
    }
    Ok(values)
}

pub(crate) fn to_ms(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    // Out-of-range values cannot come from `to_ms`; clamp rather than fail on a corrupt row.
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Insights out of `SELECT id, symbol, kind, severity, message, ts_ms, indicators` rows.
///
/// A row of a kind this build does not know (written by a newer release during a rolling
/// upgrade) is left out with a warning rather than failing the whole read.
fn insights_from(rows: Vec<AnyRow>) -> Result<Vec<Insight>> {
    let mut insights = Vec::with_capacity(rows.len());
    for row in rows {
        let kind_name: String = row.try_get("kind")?;
        let Some(kind) = InsightKind::parse(&kind_name) else {
            warn!(kind = %kind_name, "skipped an insight of an unknown kind");
            continue;
        };
        let indicators: String = row.try_get("indicators")?;
        insights.push(Insight {
            id: row.try_get("id")?,
            symbol: row.try_get("symbol")?,
            kind,
            severity: row.try_get("severity")?,
            message: row.try_get("message")?,
            ts: from_ms(row.try_get("ts_ms")?),
            indicators: serde_json::from_str(&indicators).map_err(|source| StoreError::Decode {
                what: "insight indicators",
                source,
            })?,
        });
    }
    Ok(insights)
}

/// Most keys bound in one `IN (…)` list.
const KEYS_PER_QUERY: usize = 500;

impl SqlStore {
    /// `columns` of the saved states of `processor` among `keys`, in chunks of bounded size.
    async fn processor_state_rows(
        &self,
        columns: &str,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<AnyRow>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "SELECT {columns} FROM processor_state WHERE processor = $1 AND state_key IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(processor);
            for key in chunk {
                query = query.bind(key);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[async_trait]
impl MarketData for SqlStore {
    #[instrument(skip_all, fields(quotes = write.quotes.len(), candles = write.candles.len(), insights = write.insights.len()), err)]
    async fn record_market(&self, write: &MarketWrite) -> Result<()> {
        if write.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for quote in &write.quotes {
            sqlx::query(
                "INSERT INTO quotes (symbol, price, bid, ask, volume, day_open, ts_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, bid = excluded.bid,
                   ask = excluded.ask, volume = excluded.volume, day_open = excluded.day_open,
                   ts_ms = excluded.ts_ms
                 WHERE excluded.ts_ms >= quotes.ts_ms",
            )
            .bind(&quote.symbol)
            .bind(quote.price)
            .bind(quote.bid)
            .bind(quote.ask)
            .bind(quote.volume)
            .bind(quote.day_open)
            .bind(to_ms(quote.ts))
            .execute(&mut *tx)
            .await?;
        }
        for candle in &write.candles {
            sqlx::query(
                "INSERT INTO candles (symbol, interval_secs, start_ms, open, high, low, close, volume, trades)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (symbol, interval_secs, start_ms) DO UPDATE SET open = excluded.open,
                   high = excluded.high, low = excluded.low, close = excluded.close,
                   volume = excluded.volume, trades = excluded.trades",
            )
            .bind(&candle.symbol)
            .bind(candle.interval_secs)
            .bind(to_ms(candle.start))
            .bind(candle.open)
            .bind(candle.high)
            .bind(candle.low)
            .bind(candle.close)
            .bind(candle.volume)
            .bind(candle.trades)
            .execute(&mut *tx)
            .await?;
        }
        for insight in &write.insights {
            sqlx::query(
                "INSERT INTO insights (id, symbol, kind, severity, message, ts_ms, indicators)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&insight.id)
            .bind(&insight.symbol)
            .bind(insight.kind.as_str())
            .bind(&insight.severity)
            .bind(&insight.message)
            .bind(to_ms(insight.ts))
            .bind(insight.indicators.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn symbols(&self) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar("SELECT symbol FROM quotes ORDER BY symbol")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    #[instrument(skip(self), err)]
    async fn quote(&self, symbol: &str) -> Result<Option<Quote>> {
        let row = sqlx::query(
            "SELECT symbol, price, bid, ask, volume, day_open, ts_ms FROM quotes WHERE symbol = $1",
        )
        .bind(symbol)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Quote {
                symbol: row.try_get("symbol")?,
                price: row.try_get("price")?,
                bid: row.try_get("bid")?,
                ask: row.try_get("ask")?,
                volume: row.try_get("volume")?,
                day_open: row.try_get("day_open")?,
                ts: from_ms(row.try_get("ts_ms")?),
            })
        })
        .transpose()
    }

    #[instrument(skip(self), err)]
    async fn candles(
        &self,
        symbol: &str,
        interval_secs: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Candle>> {
        let rows = sqlx::query(
            "SELECT * FROM (
               SELECT symbol, interval_secs, start_ms, open, high, low, close, volume, trades
               FROM candles WHERE symbol = $1 AND interval_secs = $2 AND start_ms >= $3 AND start_ms < $4
               ORDER BY start_ms DESC LIMIT $5
             ) AS latest ORDER BY start_ms ASC",
        )
        .bind(symbol)
        .bind(interval_secs)
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Candle {
                    symbol: row.try_get("symbol")?,
                    interval_secs: row.try_get("interval_secs")?,
                    start: from_ms(row.try_get("start_ms")?),
                    open: row.try_get("open")?,
                    high: row.try_get("high")?,
                    low: row.try_get("low")?,
                    close: row.try_get("close")?,
                    volume: row.try_get("volume")?,
                    trades: row.try_get("trades")?,
                })
            })
            .collect()
    }

    #[instrument(skip(self), err)]
    async fn insights(
        &self,
        symbol: &str,
        kinds: &[InsightKind],
        last: u32,
    ) -> Result<Vec<Insight>> {
        // `kind IN ($3, $4, …)`: one parameter per kind (there are a dozen kinds at most), which
        // both engines plan well.
        let kind_filter = if kinds.is_empty() {
            String::new()
        } else {
            let placeholders: Vec<String> =
                (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
            format!(" AND kind IN ({})", placeholders.join(", "))
        };
        let sql = format!(
            "SELECT id, symbol, kind, severity, message, ts_ms, indicators FROM insights
             WHERE symbol = $1{kind_filter} ORDER BY ts_ms DESC, id DESC LIMIT $2"
        );
        let mut query = sqlx::query(&sql).bind(symbol).bind(i64::from(last));
        for kind in kinds {
            query = query.bind(kind.as_str());
        }
        insights_from(query.fetch_all(&self.pool).await?)
    }

    async fn insights_since(
        &self,
        symbols: &[String],
        kinds: &[InsightKind],
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Insight>> {
        let mut filters = String::new();
        let mut next = 3;
        let kind_names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        for (column, count) in [("symbol", symbols.len()), ("kind", kind_names.len())] {
            if count > 0 {
                filters.push_str(&format!(" AND {column} IN ({})", placeholders(next, count)));
                next += count;
            }
        }
        let sql = format!(
            "SELECT id, symbol, kind, severity, message, ts_ms, indicators FROM insights
             WHERE ts_ms >= $1{filters} ORDER BY ts_ms ASC, id ASC LIMIT $2"
        );
        let mut query = sqlx::query(&sql).bind(to_ms(since)).bind(i64::from(limit));
        for value in symbols.iter().map(String::as_str).chain(kind_names) {
            query = query.bind(value);
        }
        insights_from(query.fetch_all(&self.pool).await?)
    }
}

#[async_trait]
impl Watchlists for SqlStore {
    async fn watchlist(&self, user_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT symbol FROM watchlist WHERE user_id = $1 ORDER BY added_ms, symbol",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    #[instrument(skip(self), err)]
    async fn add_to_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>> {
        sqlx::query(
            "INSERT INTO watchlist (user_id, symbol, added_ms) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, symbol) DO NOTHING",
        )
        .bind(user_id)
        .bind(symbol)
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        self.watchlist(user_id).await
    }

    #[instrument(skip(self), err)]
    async fn remove_from_watchlist(&self, user_id: &str, symbol: &str) -> Result<Vec<String>> {
        sqlx::query("DELETE FROM watchlist WHERE user_id = $1 AND symbol = $2")
            .bind(user_id)
            .bind(symbol)
            .execute(&self.pool)
            .await?;
        self.watchlist(user_id).await
    }
}

#[async_trait]
impl ProcessorStates for SqlStore {
    #[instrument(skip_all, fields(processor, states = states.len()), err)]
    async fn save_processor_states(
        &self,
        processor: &str,
        states: &[ProcessorState],
    ) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        for state in states {
            sqlx::query(
                "INSERT INTO processor_state (processor, state_key, log_partition, log_offset, state, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (processor, state_key) DO UPDATE SET log_partition = excluded.log_partition,
                   log_offset = excluded.log_offset, state = excluded.state, updated_ms = excluded.updated_ms
                 WHERE excluded.log_partition <> processor_state.log_partition
                   OR excluded.log_offset >= processor_state.log_offset",
            )
            .bind(processor)
            .bind(&state.key)
            .bind(state.partition)
            .bind(state.offset)
            .bind(&state.state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn processor_state_positions(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<(String, i32, i64)>> {
        let rows = self
            .processor_state_rows("state_key, log_partition, log_offset", processor, keys)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("state_key")?,
                    row.try_get("log_partition")?,
                    row.try_get("log_offset")?,
                ))
            })
            .collect()
    }

    async fn processor_states(
        &self,
        processor: &str,
        keys: &[String],
    ) -> Result<Vec<ProcessorState>> {
        let rows = self
            .processor_state_rows(
                "state_key, log_partition, log_offset, state",
                processor,
                keys,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ProcessorState {
                    key: row.try_get("state_key")?,
                    partition: row.try_get("log_partition")?,
                    offset: row.try_get("log_offset")?,
                    state: row.try_get("state")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl DeadLetters for SqlStore {
    #[instrument(skip_all, fields(topic = %event.topic, offset = event.offset), err)]
    async fn park_event(&self, event: &ParkedEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO parked_events (topic, partition, log_offset, event_key, payload, reason, parked_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&event.topic)
        .bind(event.partition)
        .bind(event.offset)
        .bind(&event.key)
        .bind(&event.payload)
        .bind(&event.reason)
        .bind(to_ms(event.parked_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn parked_events(&self, limit: u32) -> Result<Vec<ParkedEvent>> {
        let rows = sqlx::query(
            "SELECT topic, partition, log_offset, event_key, payload, reason, parked_ms
             FROM parked_events ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ParkedEvent {
                    topic: row.try_get("topic")?,
                    partition: row.try_get("partition")?,
                    offset: row.try_get("log_offset")?,
                    key: row.try_get("event_key")?,
                    payload: row.try_get("payload")?,
                    reason: row.try_get("reason")?,
                    parked_at: from_ms(row.try_get("parked_ms")?),
                })
            })
            .collect()
    }
}
