//! What may be shown and in what order: suitability first, then business rules and diversity.
//!
//! Scores from the models are only a wish list. Before anything reaches a customer:
//! 1. **Suitability** ([`Suitability`]): an instrument whose risk class exceeds the customer's
//!    risk profile by more than the margin is never shown, nor a complex (leveraged, inverse,
//!    contingent) product to anyone short of the required experience. Content is always
//!    suitable. This is a filter, not a penalty: no score can buy its way past it.
//! 2. **Exclusions**: items the customer holds (optionally), items they dismissed, saved,
//!    watch or bought, and items they looked at within `reshow_after_hours`.
//! 3. **Boosts and burials** ([`Boost`]): multiply the score of items with an attribute.
//! 4. **Freshness**: news loses half its score every `news_half_life_hours`.
//! 5. **Diversity and caps**: a greedy maximal-marginal-relevance pick (Carbonell and Goldstein
//!    1998) trades score against similarity to what is already picked, under per-kind and
//!    per-sector caps.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use finpulse_core::recommend::{Experience, Item, ItemKind, UserProfile};
use serde::{Deserialize, Serialize};

/// The suitability rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Suitability {
    /// How many classes above the customer's risk profile an instrument may be (0: none).
    pub risk_margin: u8,
    /// The experience a complex product needs.
    pub complex_needs: Experience,
}

impl Default for Suitability {
    fn default() -> Self {
        Self {
            risk_margin: 0,
            complex_needs: Experience::Experienced,
        }
    }
}

/// Why an item may not be shown to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsuitable {
    /// The instrument's risk class is above what the profile and margin allow.
    RiskTooHigh {
        /// The instrument's class.
        risk: u8,
        /// The highest class allowed.
        allowed: u8,
    },
    /// A complex product for a customer without the experience it needs.
    Complex,
}

impl Suitability {
    /// Whether `item` may be shown to `user`.
    pub fn check(&self, user: &UserProfile, item: &Item) -> Result<(), Unsuitable> {
        if item.kind != ItemKind::Instrument {
            return Ok(());
        }
        let allowed = user.risk_profile.saturating_add(self.risk_margin);
        // An instrument without a risk class is treated as the riskiest: unknown is not safe.
        let risk = item.risk.unwrap_or(7);
        if risk > allowed {
            return Err(Unsuitable::RiskTooHigh { risk, allowed });
        }
        if item.complex && user.experience < self.complex_needs {
            return Err(Unsuitable::Complex);
        }
        Ok(())
    }
}

/// Which items a boost applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "attribute", content = "value")]
pub enum Matcher {
    /// Items with this tag.
    Tag(String),
    /// Items in this sector.
    Sector(String),
    /// Items in this region.
    Region(String),
    /// Items of this kind.
    Kind(ItemKind),
    /// Items with an ESG score at least this high.
    EsgAtLeast(u8),
}

impl Matcher {
    fn matches(&self, item: &Item) -> bool {
        match self {
            Self::Tag(tag) => item.tags.iter().any(|t| t == tag),
            Self::Sector(sector) => &item.sector == sector,
            Self::Region(region) => &item.region == region,
            Self::Kind(kind) => item.kind == *kind,
            Self::EsgAtLeast(floor) => item.esg.is_some_and(|esg| esg >= *floor),
        }
    }
}

/// A score multiplier for matching items: above 1 boosts, below 1 buries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boost {
    /// Which items.
    #[serde(flatten)]
    pub matcher: Matcher,
    /// The multiplier (0 or more).
    pub factor: f32,
}

/// The rule set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Suitability.
    pub suitability: Suitability,
    /// Leave out what the customer already holds.
    pub exclude_held: bool,
    /// Score multipliers.
    pub boosts: Vec<Boost>,
    /// News loses half its score every this many hours.
    pub news_half_life_hours: f32,
    /// At most this many items of one kind in a list (0: no cap).
    pub per_kind_cap: usize,
    /// At most this many items of one sector in a list (0: no cap).
    pub per_sector_cap: usize,
    /// MMR's weight of relevance against diversity: 1 ranks by score alone.
    pub diversity_lambda: f32,
    /// An item the customer only looked at or opened may be shown again this many hours after
    /// they last did (saved, watched and bought items are not shown again until sold).
    pub reshow_after_hours: f32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            suitability: Suitability::default(),
            exclude_held: true,
            boosts: Vec::new(),
            news_half_life_hours: 12.0,
            per_kind_cap: 0,
            per_sector_cap: 3,
            diversity_lambda: 0.8,
            reshow_after_hours: 24.0,
        }
    }
}

/// What the rules need to know about the customer beyond their profile.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The customer.
    pub user: &'a UserProfile,
    /// Items they dismissed.
    pub dismissed: &'a HashSet<String>,
    /// Now, for freshness.
    pub now: DateTime<Utc>,
}

/// Attribute similarity of two items in [0, 1]: same sector, asset class, region, shared tags.
/// Used by diversity when no embeddings are at hand.
pub fn attribute_similarity(left: &Item, right: &Item) -> f32 {
    let mut similarity = 0.0;
    if left.kind == right.kind {
        similarity += 0.1;
    }
    if !left.sector.is_empty() && left.sector == right.sector {
        similarity += 0.4;
    }
    if left.asset_class.is_some() && left.asset_class == right.asset_class {
        similarity += 0.2;
    }
    if !left.region.is_empty() && left.region == right.region {
        similarity += 0.1;
    }
    let shared = left
        .tags
        .iter()
        .filter(|tag| right.tags.contains(tag))
        .count();
    let union = left.tags.len() + right.tags.len() - shared;
    if union > 0 {
        similarity += 0.2 * shared as f32 / union as f32;
    }
    similarity
}

impl Rules {
    /// Applies every rule to scored candidates and picks at most `k`, best first. The returned
    /// scores are after boosts and freshness. `similarity` is the diversity measure (embedding
    /// cosine, or [`attribute_similarity`]).
    pub fn select<'a>(
        &self,
        context: Context<'_>,
        candidates: impl IntoIterator<Item = (&'a Item, f32)>,
        k: usize,
        similarity: impl Fn(&Item, &Item) -> f32,
    ) -> Vec<(&'a Item, f32)> {
        let held: HashSet<&str> = context.user.holdings.iter().map(String::as_str).collect();
        let mut pool: Vec<(&'a Item, f32)> = candidates
            .into_iter()
            .filter(|(item, score)| score.is_finite() && !context.dismissed.contains(&item.id))
            .filter(|(item, _)| !(self.exclude_held && held.contains(item.id.as_str())))
            .filter(|(item, _)| self.suitability.check(context.user, item).is_ok())
            .map(|(item, score)| (item, self.adjust(item, score, context.now)))
            .collect();
        pool.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        // Diversity is traded against the score's own scale: scores over the best one (shifted
        // up first when some are negative), so 0.95 against 1.0 stays a small gap.
        let (low, high) = pool
            .iter()
            .fold((0.0f32, f32::NEG_INFINITY), |(lo, hi), (_, s)| {
                (lo.min(*s), hi.max(*s))
            });
        let span = if high > low { high - low } else { 1.0 };
        let mut picked: Vec<(&'a Item, f32)> = Vec::with_capacity(k);
        let mut per_kind: HashMap<ItemKind, usize> = HashMap::new();
        let mut per_sector: HashMap<&str, usize> = HashMap::new();
        let lambda = self.diversity_lambda.clamp(0.0, 1.0);
        while picked.len() < k {
            let mut best: Option<(usize, f32)> = None;
            for (position, (item, score)) in pool.iter().enumerate() {
                if self.per_kind_cap > 0
                    && per_kind.get(&item.kind).copied().unwrap_or(0) >= self.per_kind_cap
                {
                    continue;
                }
                if self.per_sector_cap > 0
                    && !item.sector.is_empty()
                    && per_sector.get(item.sector.as_str()).copied().unwrap_or(0)
                        >= self.per_sector_cap
                {
                    continue;
                }
                let redundancy = picked
                    .iter()
                    .map(|(chosen, _)| similarity(item, chosen))
                    .fold(0.0f32, f32::max);
                let value = lambda * (score - low) / span - (1.0 - lambda) * redundancy;
                if best.is_none_or(|(_, best_value)| value > best_value) {
                    best = Some((position, value));
                }
            }
            let Some((position, _)) = best else { break };
            let (item, score) = pool.remove(position);
            *per_kind.entry(item.kind).or_default() += 1;
            if !item.sector.is_empty() {
                *per_sector.entry(item.sector.as_str()).or_default() += 1;
            }
            picked.push((item, score));
        }
        picked
    }

    fn adjust(&self, item: &Item, score: f32, now: DateTime<Utc>) -> f32 {
        let mut factor = 1.0f32;
        for boost in &self.boosts {
            if boost.matcher.matches(item) {
                factor *= boost.factor.max(0.0);
            }
        }
        if item.kind == ItemKind::News
            && let Some(published) = item.published_at
            && self.news_half_life_hours > 0.0
        {
            let hours = (now - published).num_seconds().max(0) as f32 / 3600.0;
            factor *= 0.5f32.powf(hours / self.news_half_life_hours);
        }
        // A negative score would turn a burial into a boost: shift to positive first.
        if score >= 0.0 {
            score * factor
        } else {
            score / factor.max(f32::MIN_POSITIVE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finpulse_core::recommend::AssetClass;

    fn item(id: &str, sector: &str, risk: u8, complex: bool) -> Item {
        Item {
            id: id.into(),
            kind: ItemKind::Instrument,
            name: id.into(),
            asset_class: Some(AssetClass::Stock),
            sector: sector.into(),
            region: "europe".into(),
            currency: Some("EUR".into()),
            risk: Some(risk),
            complex,
            fees_bps: None,
            esg: None,
            tags: vec![],
            description: String::new(),
            published_at: None,
        }
    }

    fn user(risk_profile: u8, experience: Experience) -> UserProfile {
        UserProfile {
            id: "u".into(),
            risk_profile,
            experience,
            country: "DE".into(),
            interests: vec![],
            holdings: vec!["HELD".into()],
        }
    }

    #[test]
    fn suitability_filters_risk_and_complexity() {
        let rules = Suitability::default();
        let cautious = user(3, Experience::Intermediate);
        assert!(rules.check(&cautious, &item("a", "s", 3, false)).is_ok());
        assert_eq!(
            rules.check(&cautious, &item("a", "s", 4, false)),
            Err(Unsuitable::RiskTooHigh {
                risk: 4,
                allowed: 3
            })
        );
        assert_eq!(
            rules.check(&user(7, Experience::Intermediate), &item("a", "s", 7, true)),
            Err(Unsuitable::Complex)
        );
        assert!(
            rules
                .check(&user(7, Experience::Experienced), &item("a", "s", 7, true))
                .is_ok()
        );
        let margin = Suitability {
            risk_margin: 1,
            ..Suitability::default()
        };
        assert!(margin.check(&cautious, &item("a", "s", 4, false)).is_ok());
    }

    #[test]
    fn caps_boosts_and_exclusions_shape_the_list() {
        let items: Vec<Item> = (0..6)
            .map(|n| item(&format!("t{n}"), "tech", 3, false))
            .chain([
                item("bank", "banks", 3, false),
                item("HELD", "banks", 3, false),
                item("gone", "banks", 3, false),
            ])
            .collect();
        let dismissed: HashSet<String> = ["gone".to_owned()].into();
        let profile = user(5, Experience::Beginner);
        let context = Context {
            user: &profile,
            dismissed: &dismissed,
            now: Utc::now(),
        };
        let rules = Rules {
            per_sector_cap: 2,
            boosts: vec![Boost {
                matcher: Matcher::Sector("banks".into()),
                factor: 0.1,
            }],
            diversity_lambda: 1.0,
            ..Rules::default()
        };
        let scored = items
            .iter()
            .enumerate()
            .map(|(n, item)| (item, 10.0 - n as f32));
        let picked: Vec<&str> = rules
            .select(context, scored, 5, attribute_similarity)
            .into_iter()
            .map(|(i, _)| i.id.as_str())
            .collect();
        // two tech items (the cap), then the buried bank; never the held or dismissed one
        assert_eq!(picked, ["t0", "t1", "bank"]);
    }

    #[test]
    fn diversity_mixes_sectors() {
        let items = [
            item("t0", "tech", 3, false),
            item("t1", "tech", 3, false),
            item("b0", "banks", 3, false),
        ];
        let dismissed = HashSet::new();
        let profile = user(5, Experience::Beginner);
        let context = Context {
            user: &profile,
            dismissed: &dismissed,
            now: Utc::now(),
        };
        let scored = [(&items[0], 1.0), (&items[1], 0.95), (&items[2], 0.9)];
        let plain = Rules {
            diversity_lambda: 1.0,
            ..Rules::default()
        };
        let diverse = Rules {
            diversity_lambda: 0.5,
            ..Rules::default()
        };
        let ids = |rules: &Rules| -> Vec<String> {
            rules
                .select(context, scored, 2, attribute_similarity)
                .into_iter()
                .map(|(i, _)| i.id.clone())
                .collect()
        };
        assert_eq!(ids(&plain), ["t0", "t1"]);
        assert_eq!(ids(&diverse), ["t0", "b0"]);
    }
}
