//! Strategies: named recommender configurations, what an experiment's variants serve.
//!
//! A strategy changes how a list is made, never what may be shown: suitability and the
//! exclusions apply to every strategy alike. Three are built in (see [`builtin`]); more are
//! declared in configuration (`[recommend.service.strategies.<name>]`) with the same fields,
//! and one of those may replace a built-in by its name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::Boost;

/// Where a strategy's scores come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// The customer's own model: collaborative scores from their history (a customer with
    /// none yet gets their segment's popularity and their interests).
    Personal,
    /// What everyone engages with most, the same for every customer.
    Popularity,
    /// The personal model's candidates reordered by the learned ranker (the personal model
    /// alone while no ranker is trained).
    Ranked,
}

/// A named way of making lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// Where scores come from.
    pub scorer: Scorer,
    /// Replaces the rules' MMR weight (1: rank by score alone, no diversity).
    #[serde(default)]
    pub diversity_lambda: Option<f32>,
    /// Score multipliers on top of the rules' own.
    #[serde(default)]
    pub boosts: Vec<Boost>,
}

/// The strategy lists are made with outside experiments.
pub const DEFAULT_STRATEGY: &str = "collaborative";

/// The built-in strategies: `collaborative` (the default: the personal model, the rules'
/// diversity), `no-diversity` (the same ranked by score alone), `ranked` (the learned ranker
/// over the personal model's candidates) and `popularity`.
pub fn builtin() -> BTreeMap<String, Strategy> {
    BTreeMap::from([
        (
            DEFAULT_STRATEGY.to_owned(),
            Strategy {
                scorer: Scorer::Personal,
                diversity_lambda: None,
                boosts: Vec::new(),
            },
        ),
        (
            "no-diversity".to_owned(),
            Strategy {
                scorer: Scorer::Personal,
                diversity_lambda: Some(1.0),
                boosts: Vec::new(),
            },
        ),
        (
            "ranked".to_owned(),
            Strategy {
                scorer: Scorer::Ranked,
                diversity_lambda: None,
                boosts: Vec::new(),
            },
        ),
        (
            "popularity".to_owned(),
            Strategy {
                scorer: Scorer::Popularity,
                diversity_lambda: None,
                boosts: Vec::new(),
            },
        ),
    ])
}

/// The built-ins with `configured` on top (a configured one replaces a built-in of its name).
pub fn resolve(configured: &BTreeMap<String, Strategy>) -> BTreeMap<String, Strategy> {
    let mut strategies = builtin();
    strategies.extend(configured.clone());
    strategies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_strategies_read_and_join_the_built_ins() {
        let configured: BTreeMap<String, Strategy> = serde_json::from_str(
            r#"{"esg-first": {"scorer": "personal", "diversity_lambda": 0.6,
                 "boosts": [{"attribute": "esg_at_least", "value": 70, "factor": 1.5}]},
                "popularity": {"scorer": "popularity", "diversity_lambda": 1.0}}"#,
        )
        .expect("strategies read");
        let all = resolve(&configured);
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "collaborative",
                "esg-first",
                "no-diversity",
                "popularity",
                "ranked"
            ]
        );
        assert_eq!(all["esg-first"].boosts.len(), 1);
        assert_eq!(all["popularity"].diversity_lambda, Some(1.0), "replaced");
        let typo = serde_json::from_str::<Strategy>(r#"{"scorer": "personal", "boost": []}"#);
        assert!(typo.is_err(), "unknown fields are refused");
    }
}
