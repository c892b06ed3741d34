//! The market domain: everything between a tick and an insight.
//!
//! ```text
//! source::publish_tick (simulator | CSV replay | Kafka producers)
//!    │  Envelope{type: "market.tick"} on "market.ticks", keyed by symbol
//!    ▼
//! processor::MarketProcessor (a Handler in the bus runtime)
//!    │  candles, indicators, signals ──► Store (quotes, candles, insights, state)
//!    ▼
//! FanOut  ── Channel::Ticks / Candles / Insights / AllInsights ──► gateway sockets
//!         and "market.insights" (Envelope{type: "market.insight"}) for consumers downstream
//! ```
//!
//! [`watchlist::WatchlistBook`] keeps users' watchlists and announces each change on
//! `Channel::Watchlist`, which live subscriptions follow. [`domain`] is the market as the
//! gateway runs it: its `[market]` settings, its topics, processor and source.

pub mod domain;
pub mod events;
pub mod indicators;
pub mod insights;
pub mod processor;
pub mod replay;
pub mod simulator;
pub mod source;
pub mod watchlist;
