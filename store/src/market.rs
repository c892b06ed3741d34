//! Market data on the SQL engines: one processing batch's quotes, candles and insights written
//! atomically, and the reads the API and the replay of a gap make.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use tracing::{instrument, warn};

use finpulse_core::market::{Candle, Insight, InsightKind, Quote};

use crate::sql::{from_ms, placeholders, to_ms};
use crate::{MarketData, Result, SqlStore, StoreError};

/// Everything one processing batch writes, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct MarketWrite {
    /// Latest quote per symbol touched by the batch.
    pub quotes: Vec<Quote>,
    /// Candles touched by the batch (open ones included; they are upserted).
    pub candles: Vec<Candle>,
    /// New insights.
    pub insights: Vec<Insight>,
}

impl MarketWrite {
    /// True when the batch would write nothing.
    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty() && self.candles.is_empty() && self.insights.is_empty()
    }
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
