//! The recommender domain: what each customer should look at next.
//!
//! - [`models`]: the collaborative models (EASE, implicit ALS with conjugate gradient) and the
//!   popularity baseline, all on one [`models::Interactions`] matrix; the production scorer is
//!   [`models::Cf`], which picks the model for the catalogue's size.
//! - [`catalogue`]: the items (instruments, news, articles) and the demo catalogue.
//! - [`rules`]: suitability (never above the customer's risk profile, complex products only to
//!   the experienced), exclusions, boosts, freshness, caps and MMR diversity.
//! - [`recommender`]: the live recommender: a customer's state, updated per interaction, scored by the
//!   model (or, cold, by segment popularity and interests), filtered by the rules, explained.
//! - [`strategy`]: named ways of making lists (personal, no diversity, popularity) that
//!   [`experiments`] compare: A/B by hash or a Thompson-sampling bandit, with a guardrail,
//!   impressions and outcomes logged, Wilson intervals and a two-proportion test.
//! - [`feature_sets`]: the versioned feature sets (customer activity, item popularity, price
//!   momentum), their point-in-time materialization and the feature store (offline rows,
//!   online rows).
//! - [`momentum`]: price momentum from instruments' end-of-day candles, and the demo's prices.
//! - [`learned_ranker`]: the learned ranker over seven signals (collaborative, content, popularity,
//!   recent popularity, freshness, suitability headroom, price momentum), trained from logged
//!   interactions, written as ONNX and served by ONNX Runtime.
//! - [`eval`]: `finpulse eval recommender`, the offline evaluation on MovieLens-style files, run
//!   on the same model code the live recommender serves.
//!
//! - [`domain`]: the recommender as the gateway runs it: its `[recommend]` settings, how it
//!   opens, and what it starts (first model, processor, simulator, retraining schedule).
//!
//! Nothing here does network IO of its own; the gateway hands [`domain`] the backends it opened.

pub mod catalogue;
pub mod domain;
pub mod error;
pub mod eval;
pub mod events;
pub mod experiments;
pub mod feature_sets;
pub mod import;
pub mod learned_ranker;
pub mod models;
pub mod momentum;
pub mod processor;
pub mod recommender;
pub mod rules;
pub mod service;
pub mod simulator;
pub mod strategy;

pub use domain::RecommendSettings;
pub use error::RecommendError;
