//! Redis as a read-through cache in front of [`MarketData`], for the reads every dashboard makes
//! again and again: the quote of a symbol and its latest insights. Only market data passes
//! through it; the other repositories are reached directly.
//!
//! A read looks in Redis first and, on a miss, reads the store and keeps the answer for
//! `ttl_secs`. Writes go to the store, then invalidate explicitly: a batch that moved the quote
//! of a symbol deletes its cached quote, one that found insights deletes the symbol's cached
//! insight lists (one Redis hash per symbol, one field per `kinds`/`last` combination, so a
//! single `DEL` drops them all). The TTL bounds how long a value can stay stale in the one race
//! left (a reader that missed puts back what it read just before a write landed).
//!
//! Redis is an accelerator, never a dependency: when it cannot be reached, reads fall through
//! to the store and the failure is counted, so an outage costs latency, not answers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prometheus::IntCounterVec;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use std::sync::Arc;

use finpulse_core::market::{Candle, Insight, InsightKind, Quote};

use crate::{MarketData, MarketWrite, Result, StoreError};

/// Settings of [`CachedMarketData`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Put before every key, so deployments sharing a Redis stay apart.
    pub key_prefix: String,
    /// Seconds a cached value lives at most.
    pub ttl_secs: u64,
    /// Certificates for `rediss://`.
    pub tls: finpulse_core::redis_tls::RedisTls,
}

/// [`MarketData`] whose hot reads go through Redis.
pub struct CachedMarketData {
    inner: Arc<dyn MarketData>,
    redis: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
    /// `finpulse_cache_requests_total{entity, result}`: hit, miss or error.
    requests: Option<IntCounterVec>,
}

impl std::fmt::Debug for CachedMarketData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedMarketData")
            .field("prefix", &self.prefix)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl CachedMarketData {
    /// Puts `inner` behind the Redis at `config.url`; fails if Redis cannot be reached now.
    pub async fn connect(inner: Arc<dyn MarketData>, config: CacheConfig) -> Result<Self> {
        let client = config
            .tls
            .client(config.url.as_str())
            .map_err(|e| StoreError::Cache(format!("invalid redis url: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(1)
            .set_max_delay(500);
        let redis = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(|e| StoreError::Cache(format!("failed to connect to redis: {e}")))?;
        Ok(Self {
            inner,
            redis,
            prefix: config.key_prefix,
            ttl_secs: config.ttl_secs.max(1),
            requests: None,
        })
    }

    /// Counts hits, misses and errors in `requests{entity, result}`.
    pub fn with_metrics(mut self, requests: IntCounterVec) -> Self {
        self.requests = Some(requests);
        self
    }

    fn count(&self, entity: &str, result: &str) {
        if let Some(requests) = &self.requests {
            requests.with_label_values(&[entity, result]).inc();
        }
    }

    fn quote_key(&self, symbol: &str) -> String {
        format!("{}quote:{symbol}", self.prefix)
    }

    fn insights_key(&self, symbol: &str) -> String {
        format!("{}insights:{symbol}", self.prefix)
    }

    /// The cached value of `key` (or of `field` in the hash `key`), if any.
    async fn lookup<T: DeserializeOwned>(
        &self,
        entity: &str,
        key: &str,
        field: Option<&str>,
    ) -> Option<T> {
        let mut redis = self.redis.clone();
        let cached: redis::RedisResult<Option<String>> = match field {
            Some(field) => redis.hget(key, field).await,
            None => redis.get(key).await,
        };
        match cached {
            Ok(Some(text)) => match serde_json::from_str(&text) {
                Ok(value) => {
                    self.count(entity, "hit");
                    Some(value)
                }
                Err(e) => {
                    warn!(%key, error = %e, "undecodable cache entry; reading the store");
                    self.count(entity, "error");
                    None
                }
            },
            Ok(None) => {
                self.count(entity, "miss");
                None
            }
            Err(e) => {
                warn!(%key, error = %e, "cache read failed; reading the store");
                self.count(entity, "error");
                None
            }
        }
    }

    async fn keep<T: Serialize>(&self, key: &str, field: Option<&str>, value: &T) {
        let text = serde_json::to_string(value).expect("store types serialise");
        let mut redis = self.redis.clone();
        let kept: redis::RedisResult<()> = match field {
            Some(field) => {
                redis::pipe()
                    .atomic()
                    .hset(key, field, text)
                    .ignore()
                    .expire(key, self.ttl_secs as i64)
                    .ignore()
                    .query_async(&mut redis)
                    .await
            }
            None => redis.set_ex(key, text, self.ttl_secs).await,
        };
        if let Err(e) = kept {
            warn!(%key, error = %e, "cache write failed");
        }
    }
}

#[async_trait]
impl MarketData for CachedMarketData {
    async fn record_market(&self, write: &MarketWrite) -> Result<()> {
        self.inner.record_market(write).await?;
        let mut stale: Vec<String> = write
            .quotes
            .iter()
            .map(|q| self.quote_key(&q.symbol))
            .collect();
        stale.extend(write.insights.iter().map(|i| self.insights_key(&i.symbol)));
        stale.sort();
        stale.dedup();
        if !stale.is_empty() {
            let mut redis = self.redis.clone();
            let deleted: redis::RedisResult<i64> = redis.del(&stale).await;
            if let Err(e) = deleted {
                // The write is in the store; cached copies expire within the TTL.
                warn!(keys = stale.len(), error = %e, "cache invalidation failed");
                self.count("invalidation", "error");
            }
        }
        Ok(())
    }

    async fn symbols(&self) -> Result<Vec<String>> {
        self.inner.symbols().await
    }

    async fn quote(&self, symbol: &str) -> Result<Option<Quote>> {
        let key = self.quote_key(symbol);
        if let Some(quote) = self.lookup("quote", &key, None).await {
            return Ok(quote);
        }
        let quote = self.inner.quote(symbol).await?;
        self.keep(&key, None, &quote).await;
        Ok(quote)
    }

    async fn candles(
        &self,
        symbol: &str,
        interval_secs: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Candle>> {
        self.inner
            .candles(symbol, interval_secs, from, to, limit)
            .await
    }

    async fn insights(
        &self,
        symbol: &str,
        kinds: &[InsightKind],
        last: u32,
    ) -> Result<Vec<Insight>> {
        let key = self.insights_key(symbol);
        let mut kinds_sorted: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        kinds_sorted.sort_unstable();
        kinds_sorted.dedup();
        let field = format!("{last}:{}", kinds_sorted.join(","));
        if let Some(insights) = self.lookup("insights", &key, Some(&field)).await {
            return Ok(insights);
        }
        let insights = self.inner.insights(symbol, kinds, last).await?;
        self.keep(&key, Some(&field), &insights).await;
        Ok(insights)
    }

    async fn insights_since(
        &self,
        symbols: &[String],
        kinds: &[InsightKind],
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Insight>> {
        self.inner
            .insights_since(symbols, kinds, since, limit)
            .await
    }
}
