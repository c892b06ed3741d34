//! The recommender's vocabulary: catalogue items, customer profiles and interactions.
//!
//! `finpulse-recommend` ranks items for profiles from interactions; the store will keep all
//! three, the log carries interactions (topic `user.interactions`) and the schema serves them.
//! Serde names are the stored and wire names. [`experiment`] holds what experiments keep.

pub mod experiment;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum ItemKind {
    /// Something one can buy: a share, an ETF, a fund, a bond.
    Instrument,
    /// A news story.
    News,
    /// A learning article.
    Article,
}

/// An instrument's asset class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum AssetClass {
    /// A company's shares.
    Stock,
    /// An exchange-traded fund.
    Etf,
    /// A mutual fund.
    Fund,
    /// A bond.
    Bond,
}

/// One thing the recommender can show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Item {
    /// Stable id (`AAPL`-like symbols for instruments, slugs for articles).
    pub id: String,
    /// What it is.
    pub kind: ItemKind,
    /// Display name.
    pub name: String,
    /// Asset class, for instruments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_class: Option<AssetClass>,
    /// Sector (`technology`, `health care`, …), or the topic of an article.
    #[serde(default)]
    pub sector: String,
    /// Region (`north america`, `europe`, `asia pacific`, `emerging markets`, `global`).
    #[serde(default)]
    pub region: String,
    /// Trading currency, ISO 4217, for instruments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Risk class 1 (lowest) to 7 (highest), as on the EU SRRI scale; none for content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<u8>,
    /// Leveraged, inverse or otherwise complex: only for experienced investors.
    #[serde(default)]
    pub complex: bool,
    /// Ongoing charges in basis points a year, for funds and ETFs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees_bps: Option<u32>,
    /// ESG score 0–100, where rated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esg: Option<u8>,
    /// Free tags (`dividend`, `beginner`, `clean energy`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// A description in plain words, embedded for content similarity.
    pub description: String,
    /// When it was published, for news and articles (freshness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
}

/// How much a customer knows about investing (MiFID II's knowledge and experience test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum Experience {
    /// New to investing.
    Beginner,
    /// Has invested in plain products.
    Intermediate,
    /// Understands leveraged and complex products.
    Experienced,
}

/// A customer as the recommender sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserProfile {
    /// The user id (the token's `sub`).
    pub id: String,
    /// The highest risk class the customer's suitability assessment allows, 1–7.
    pub risk_profile: u8,
    /// Knowledge and experience.
    pub experience: Experience,
    /// Country of residence, ISO 3166 alpha-2.
    pub country: String,
    /// Stated interests: sectors, regions or tags.
    #[serde(default)]
    pub interests: Vec<String>,
    /// Item ids the customer holds.
    #[serde(default)]
    pub holdings: Vec<String>,
}

/// What a customer did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum InteractionKind {
    /// Saw it in a list.
    View,
    /// Opened it.
    Click,
    /// Saved it for later.
    Save,
    /// Put it on a watchlist.
    Watch,
    /// Bought it.
    Buy,
    /// Sold it.
    Sell,
    /// Asked not to see it again.
    Dismiss,
    /// Rated it (the value is in `rating`).
    Rate,
}

impl InteractionKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::View,
        Self::Click,
        Self::Save,
        Self::Watch,
        Self::Buy,
        Self::Sell,
        Self::Dismiss,
        Self::Rate,
    ];
}

/// One interaction event, as the log carries it (key: the user id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// The user.
    pub user: String,
    /// The item.
    pub item: String,
    /// What they did.
    pub kind: InteractionKind,
    /// The rating, 1–5, for `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f32>,
    /// The recommendation the item was shown in, for attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_travel_in_their_wire_names() {
        let text = r#"{"user":"u1","item":"NWSC","kind":"save","recommendation_id":"r1","at":"2026-12-02T10:00:00Z"}"#;
        let interaction: Interaction = serde_json::from_str(text).unwrap();
        assert_eq!(interaction.kind, InteractionKind::Save);
        assert_eq!(serde_json::to_string(&interaction).unwrap(), text);
        assert!(serde_json::from_str::<Interaction>(&text.replace("save", "hug")).is_err());
    }
}
