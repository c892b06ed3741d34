//! The live recommender: a trained model, the catalogue and the rules, answering for one
//! customer's current state.
//!
//! A customer's [`UserState`] is their profile, their weighted history and what they
//! dismissed. Each interaction updates it at once ([`UserState::record`]); the next
//! [`Recommender::recommend`] scores from the new history with no retraining (EASE is exact for
//! a changed profile; ALS folds the user in). A customer with no history yet is a cold start:
//! popularity within their segment (risk profile and country), plus items matching their
//! stated interests. Every item in a list carries an explanation and the list carries its
//! provenance (model and version).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use finpulse_core::recommend::{Interaction, InteractionKind, Item, ItemKind, UserProfile};
use serde::{Deserialize, Serialize};

use crate::RecommendError;
use crate::catalogue::Catalogue;
use crate::models::{self, Cf, CfConfig, Interactions, Profile};
use crate::rules::{Context, Rules, attribute_similarity};
use crate::strategy::{DEFAULT_STRATEGY, Scorer, Strategy};

mod snapshot;
pub use snapshot::SNAPSHOT_FORMAT;

/// How much each kind of interaction says about taste.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Saw it in a list.
    pub view: f32,
    /// Opened it.
    pub click: f32,
    /// Saved it.
    pub save: f32,
    /// Watched it.
    pub watch: f32,
    /// Bought it.
    pub buy: f32,
    /// Sold it (still a sign of interest in the kind of thing).
    pub sell: f32,
    /// Per star of a rating above 3 (ratings of 3 or less count as nothing).
    pub rate_per_star: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            view: 0.2,
            click: 1.0,
            save: 3.0,
            watch: 2.0,
            buy: 5.0,
            sell: 0.5,
            rate_per_star: 1.0,
        }
    }
}

impl Weights {
    /// The weight of one interaction; `None` for a dismissal (handled as an exclusion).
    pub fn of(&self, interaction: &Interaction) -> Option<f32> {
        Some(match interaction.kind {
            InteractionKind::View => self.view,
            InteractionKind::Click => self.click,
            InteractionKind::Save => self.save,
            InteractionKind::Watch => self.watch,
            InteractionKind::Buy => self.buy,
            InteractionKind::Sell => self.sell,
            InteractionKind::Rate => {
                (interaction.rating.unwrap_or(0.0) - 3.0).max(0.0) * self.rate_per_star
            }
            InteractionKind::Dismiss => return None,
        })
    }
}

/// One customer's live state.
#[derive(Debug, Clone)]
pub struct UserState {
    /// The profile.
    pub profile: UserProfile,
    /// Item id → (summed weight, latest time, latest kind).
    pub(crate) history: HashMap<String, (f32, DateTime<Utc>, InteractionKind)>,
    /// Dismissed item ids.
    pub dismissed: HashSet<String>,
    /// Items saved, watched or bought (and not sold since): the customer has them already.
    pub(crate) kept: HashSet<String>,
}

impl UserState {
    /// A customer with no history.
    pub fn new(profile: UserProfile) -> Self {
        Self {
            profile,
            history: HashMap::new(),
            dismissed: HashSet::new(),
            kept: HashSet::new(),
        }
    }

    /// Folds one interaction in.
    pub fn record(&mut self, interaction: &Interaction, weights: &Weights) {
        match interaction.kind {
            InteractionKind::Save | InteractionKind::Watch | InteractionKind::Buy => {
                self.kept.insert(interaction.item.clone());
            }
            InteractionKind::Sell => {
                self.kept.remove(&interaction.item);
            }
            _ => {}
        }
        match weights.of(interaction) {
            None => {
                self.dismissed.insert(interaction.item.clone());
                self.history.remove(&interaction.item);
            }
            Some(weight) if weight > 0.0 => {
                let entry = self.history.entry(interaction.item.clone()).or_insert((
                    0.0,
                    interaction.at,
                    interaction.kind,
                ));
                entry.0 += weight;
                if interaction.at >= entry.1 {
                    entry.1 = interaction.at;
                    entry.2 = interaction.kind;
                }
            }
            Some(_) => {}
        }
    }

    /// Whether the customer has engaged with anything (or holds anything).
    pub fn is_cold(&self) -> bool {
        self.history.is_empty() && self.profile.holdings.is_empty()
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommended {
    /// The item id.
    pub item: String,
    /// Its final score (after rules).
    pub score: f32,
    /// Why it is shown, in words for the customer.
    pub explanation: String,
}

/// A list and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// The items, best first.
    pub items: Vec<Recommended>,
    /// `ease`, `als` or `popularity` (cold start, or the popularity strategy).
    pub model: String,
    /// The trained model's version.
    pub model_version: String,
    /// The strategy that made it.
    pub strategy: String,
    /// The feature sets (`name@version`) it read.
    #[serde(default)]
    pub feature_sets: Vec<String>,
}

/// The live recommender.
#[derive(Debug)]
pub struct Recommender {
    pub(crate) catalogue: Catalogue,
    pub(crate) matrix: Interactions,
    pub(crate) model: Cf,
    version: String,
    weights: Weights,
    rules: Rules,
    recency: f32,
    pub(crate) popularity: Vec<f32>,
    segment_popularity: HashMap<(u8, String), Vec<f32>>,
    /// Recent engagement per item (catalogue order) from the feature store, with the set's key.
    pub(crate) trending: Option<(String, Vec<f32>)>,
    /// Price momentum per item (catalogue order: the 20-day log return, `None` without
    /// prices) from the feature store, with the set's key.
    pub(crate) momentum: Option<(String, Vec<Option<f64>>)>,
    /// Description vectors, for content similarity (with an embedding model).
    pub(crate) content: Option<crate::learned_ranker::Content>,
    /// The learned ranker the `ranked` strategy uses.
    pub(crate) ranker: Option<std::sync::Arc<finpulse_inference::onnx_ranker::OnnxRanker>>,
}

impl Recommender {
    /// Trains on logged interactions of known customers. Interactions with items outside the
    /// catalogue are left out.
    pub fn train(
        catalogue: Catalogue,
        users: &[UserState],
        config: &CfConfig,
        weights: Weights,
        rules: Rules,
        version: impl Into<String>,
    ) -> Result<Self, RecommendError> {
        let mut rows = Vec::new();
        for user in users {
            for (item, (weight, at, _)) in &user.history {
                if catalogue.get(item).is_some() {
                    rows.push(models::Interaction {
                        user: user.profile.id.clone(),
                        item: item.clone(),
                        weight: *weight,
                        at: at.timestamp_millis(),
                    });
                }
            }
        }
        let matrix = Interactions::build_with_items(
            catalogue.items().iter().map(|item| item.id.as_str()),
            rows,
        );
        let model = Cf::fit(&matrix, config)?;
        let items = matrix.item_count();
        let popularity = matrix.item_popularity();
        let mut segment_popularity: HashMap<(u8, String), Vec<f32>> = HashMap::new();
        for user in users {
            let counts = segment_popularity
                .entry(segment(&user.profile))
                .or_insert_with(|| vec![0.0; items]);
            for item in user.history.keys() {
                if let Some(index) = matrix.item_index(item) {
                    counts[index as usize] += 1.0;
                }
            }
        }
        Ok(Self {
            catalogue,
            matrix,
            model,
            version: version.into(),
            weights,
            rules,
            recency: config.recency,
            popularity,
            segment_popularity,
            trending: None,
            momentum: None,
            content: None,
            ranker: None,
        })
    }

    /// The same model ranking the popularity strategy by recent engagement (`engagements`
    /// per catalogue item, read from the feature set `key`).
    pub fn with_trending(mut self, trending: Option<(String, Vec<f32>)>) -> Self {
        self.trending = trending.filter(|(_, values)| values.len() == self.matrix.item_count());
        self
    }

    /// The same model with each item's price momentum (the 20-day log return per catalogue
    /// item, `None` without prices, read from the feature set `key`), for the ranker.
    pub fn with_momentum(mut self, momentum: Option<(String, Vec<Option<f64>>)>) -> Self {
        self.momentum = momentum.filter(|(_, values)| values.len() == self.matrix.item_count());
        self
    }

    /// The version this model was trained as.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The collaborative model's name.
    pub fn model_name(&self) -> &'static str {
        self.model.name()
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The interaction weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The `k` best items of the given kinds (all kinds when empty) for a customer now, by
    /// the default strategy.
    pub fn recommend(
        &self,
        user: &UserState,
        k: usize,
        kinds: &[ItemKind],
        now: DateTime<Utc>,
    ) -> Recommendations {
        let default = Strategy {
            scorer: Scorer::Personal,
            diversity_lambda: None,
            boosts: Vec::new(),
        };
        self.recommend_with(user, k, kinds, now, (DEFAULT_STRATEGY, &default))
    }

    /// The same by a named strategy.
    pub fn recommend_with(
        &self,
        user: &UserState,
        k: usize,
        kinds: &[ItemKind],
        now: DateTime<Utc>,
        (strategy_name, strategy): (&str, &Strategy),
    ) -> Recommendations {
        let items = self.matrix.item_count();
        let mut scores = vec![0f32; items];
        let profile = self.profile(user);
        let cold = profile.is_empty();
        let popular = strategy.scorer == Scorer::Popularity;
        let mut feature_sets = Vec::new();
        if popular && !cold {
            // What is engaged with now (the feature store's last 7 days) first, all-time
            // popularity to break its ties; all-time alone before features are materialized.
            let top = self.popularity.iter().copied().fold(1.0f32, f32::max);
            for (score, count) in scores.iter_mut().zip(&self.popularity) {
                *score = count / top;
            }
            if let Some((key, recent)) = &self.trending {
                let recent_top = recent.iter().copied().fold(1.0f32, f32::max);
                for (score, count) in scores.iter_mut().zip(recent) {
                    *score = count / recent_top + 0.1 * *score;
                }
                feature_sets.push(key.clone());
            }
        } else if strategy.scorer == Scorer::Ranked && !cold && self.ranker.is_some() {
            if let Some(used) = self.ranked_scores(user, &profile, &mut scores, now) {
                feature_sets.extend(used);
            }
        } else if cold {
            let segment = self
                .segment_popularity
                .get(&segment(&user.profile))
                .unwrap_or(&self.popularity);
            let top = segment
                .iter()
                .chain(&self.popularity)
                .copied()
                .fold(1.0f32, f32::max);
            for (index, score) in scores.iter_mut().enumerate() {
                // segment first, the whole population to break its ties and fill its gaps
                *score = segment[index] / top + 0.1 * self.popularity[index] / top;
                if self
                    .interest(&user.profile, &self.catalogue.items()[index])
                    .is_some()
                {
                    *score += 0.5;
                }
            }
        } else {
            self.model.score(&profile, &mut scores);
        }
        // What the customer has (kept) or looked at lately is not news to them.
        let reshow_after = chrono::Duration::milliseconds(
            (f64::from(self.rules.reshow_after_hours.max(0.0)) * 3_600_000.0) as i64,
        );
        let own: HashSet<u32> = user
            .history
            .iter()
            .filter(|(item, (_, at, _))| user.kept.contains(*item) || now - *at < reshow_after)
            .filter_map(|(item, _)| self.matrix.item_index(item))
            .collect();
        let candidates = self
            .catalogue
            .items()
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let wanted = kinds.is_empty() || kinds.contains(&item.kind);
                (wanted && !own.contains(&(index as u32))).then_some((item, scores[index]))
            });
        let context = Context {
            user: &user.profile,
            dismissed: &user.dismissed,
            now,
        };
        let changed;
        let rules = if strategy.diversity_lambda.is_none() && strategy.boosts.is_empty() {
            &self.rules
        } else {
            let mut rules = self.rules.clone();
            if let Some(lambda) = strategy.diversity_lambda {
                rules.diversity_lambda = lambda;
            }
            rules.boosts.extend(strategy.boosts.iter().cloned());
            changed = rules;
            &changed
        };
        let picked = rules.select(context, candidates, k, attribute_similarity);
        let items = picked
            .into_iter()
            .map(|(item, score)| Recommended {
                item: item.id.clone(),
                score,
                explanation: if popular && !cold {
                    "popular with customers right now".to_owned()
                } else {
                    self.explain(user, &profile, item, cold)
                },
            })
            .collect();
        Recommendations {
            items,
            model: match (&self.ranker, strategy.scorer) {
                _ if cold || popular => "popularity".into(),
                (Some(ranker), Scorer::Ranked) => {
                    format!("{}+{}", self.model.name(), ranker.name())
                }
                _ => self.model.name().into(),
            },
            model_version: self.version.clone(),
            strategy: strategy_name.to_owned(),
            feature_sets,
        }
    }

    /// Items like `item_id`: the collaborative model's neighbours (what people who engaged with
    /// it also engaged with), blended with attribute similarity so a new item has neighbours
    /// too. Suitability is not applied: this is the public catalogue view.
    pub fn similar_items(&self, item_id: &str, k: usize) -> Vec<(&Item, f32)> {
        let Some(index) = self.matrix.item_index(item_id) else {
            return Vec::new();
        };
        let target = &self.catalogue.items()[index as usize];
        let mut scores = vec![0f32; self.matrix.item_count()];
        self.model.score(
            &Profile {
                items: vec![(index, 1.0)],
            },
            &mut scores,
        );
        let top = scores
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        for (position, score) in scores.iter_mut().enumerate() {
            *score = *score / top + attribute_similarity(target, &self.catalogue.items()[position]);
        }
        models::top_k(&scores, |candidate| candidate == index, k)
            .into_iter()
            .map(|(position, score)| (&self.catalogue.items()[position as usize], score))
            .collect()
    }

    /// The profile the model scores: history (recency-faded) and holdings (as purchases).
    pub(crate) fn profile(&self, user: &UserState) -> Profile {
        let mut entries: Vec<models::Entry> = user
            .history
            .iter()
            .filter_map(|(item, (weight, at, _))| {
                let index = self.matrix.item_index(item)?;
                Some(models::Entry {
                    item: index,
                    weight: *weight,
                    at: at.timestamp_millis(),
                })
            })
            .collect();
        for holding in &user.profile.holdings {
            if let Some(index) = self.matrix.item_index(holding)
                && !entries.iter().any(|entry| entry.item == index)
            {
                entries.push(models::Entry {
                    item: index,
                    weight: self.weights.buy,
                    at: i64::MIN,
                });
            }
        }
        entries.sort_unstable_by_key(|entry| (entry.at, entry.item));
        Profile::from_row(&entries, self.recency)
    }

    fn interest<'a>(&self, profile: &'a UserProfile, item: &Item) -> Option<&'a str> {
        profile
            .interests
            .iter()
            .find(|interest| {
                item.sector == **interest
                    || item.tags.contains(interest)
                    || item.region == **interest
            })
            .map(String::as_str)
    }

    fn explain(&self, user: &UserState, profile: &Profile, item: &Item, cold: bool) -> String {
        if cold {
            if let Some(interest) = self.interest(&user.profile, item) {
                return format!("matches your interest in {interest}");
            }
            let label = risk_label(user.profile.risk_profile);
            return match user.profile.country.as_str() {
                "" => format!("popular with {label} investors"),
                country => format!("popular with {label} investors in {country}"),
            };
        }
        let target = self.matrix.item_index(&item.id);
        // The profile item most like this one names the reason: by the item-item cell alone,
        // not weighted by the profile, or the customer's heaviest item would explain every pick
        // of a list.
        let contributor = target.and_then(|target| {
            profile
                .items
                .iter()
                .filter(|(_, weight)| *weight > 0.0)
                .filter_map(|(from, _)| Some((*from, self.model.item_weight(*from, target)?)))
                .filter(|(_, similarity)| *similarity > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(from, _)| from)
        });
        let Some(source) = contributor.map(|index| self.matrix.item_id(index)) else {
            if let Some(interest) = self.interest(&user.profile, item) {
                return format!("new in {interest}, which you follow");
            }
            return format!(
                "popular with {} investors",
                risk_label(user.profile.risk_profile)
            );
        };
        let name = self
            .catalogue
            .get(source)
            .map_or(source, |item| item.name.as_str());
        if user
            .profile
            .holdings
            .iter()
            .any(|holding| holding == source)
        {
            return format!("similar to your holding {name}");
        }
        let verb = match user.history.get(source).map(|entry| entry.2) {
            Some(InteractionKind::Save) => "saved",
            Some(InteractionKind::Buy) => "bought",
            Some(InteractionKind::Watch) => "watch",
            Some(InteractionKind::Rate) => "rated",
            Some(InteractionKind::Sell) => "sold",
            _ => "looked at",
        };
        format!("because you {verb} {name}")
    }
}

fn segment(profile: &UserProfile) -> (u8, String) {
    (profile.risk_profile, profile.country.clone())
}

/// Words for a risk profile, as customers know them.
pub fn risk_label(risk_profile: u8) -> &'static str {
    match risk_profile {
        0..=2 => "cautious",
        3..=4 => "balanced",
        5 => "growth",
        _ => "adventurous",
    }
}
