//! The user-behaviour simulator: customers with tastes, clicking, saving and buying.
//!
//! Like the market simulator it is seeded and on by default in the embedded mode, so a new
//! user sees recommendations change live. Each simulated customer has a risk profile, an
//! experience level, a country and two favourite sectors; they mostly engage with suitable
//! items of those sectors, sometimes with anything suitable, and dismiss what is not their
//! taste. The named demo customers (`alice`, `bob`, `carol`, `dave`, `erin`) are among them,
//! so the dashboard's user picker shows lists that move.
//!
//! Some customers (two in five, by a hash of their id) also follow trends: half of what they
//! do of their own accord, and what they react to in their lists, goes to the suitable
//! instruments whose 20-day price momentum is in the top quarter at that moment. The prices
//! are the demo's end-of-day history ([`crate::momentum::demo_prices`]), seeded into the store
//! for the momentum feature set to read, so the learned ranker has a real price signal to find.
//!
//! Part of the time a customer opens their list instead ([`BehaviourSimulator::browse`]): the
//! list counts as shown, and they open, save or dismiss its items by the same tastes, naming
//! the list's recommendation id. That is what an experiment measures, so the demo experiment
//! ([`demo_experiment`]) has a better strategy to find.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use finpulse_core::market::Candle;
use finpulse_core::recommend::experiment::{Experiment, Guardrail, Mode, Status, Variant};
use finpulse_core::recommend::{
    Experience, Interaction, InteractionKind, Item, ItemKind, UserProfile,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::RecommendError;
use crate::momentum::{DAY_SECS, LONG_DAYS, Momentum, demo_prices};
use crate::rules::Suitability;
use crate::service::RecommendService;

/// The simulator's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviourConfig {
    /// Run it (embedded default: yes).
    pub enabled: bool,
    /// Simulated customers, the five named demo customers included.
    pub users: usize,
    /// Interactions per second, live.
    pub rate_per_sec: f64,
    /// Interactions written at start when the store has none, so the first model has history.
    pub history: usize,
    /// Share of the ticks on which a customer opens their list rather than acting on their
    /// own.
    pub browse_share: f64,
    /// Create and start [`demo_experiment`] when the store has no experiments.
    pub demo_experiment: bool,
    /// Seed.
    pub seed: u64,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            users: 200,
            rate_per_sec: 4.0,
            history: 8_000,
            browse_share: 0.5,
            demo_experiment: true,
            seed: 42,
        }
    }
}

/// The id of the demo experiment.
pub const DEMO_EXPERIMENT: &str = "demo-strategies";

/// The demo experiment: a bandit over the built-in strategies, which with the simulated
/// customers' tastes finds the personal ones better than popularity (`ranked` serves the
/// collaborative order where no ranker could be trained, as without models).
pub fn demo_experiment() -> Experiment {
    Experiment {
        id: DEMO_EXPERIMENT.into(),
        description: "Which way of making lists converts best: the personal model with \
                      diversity, without it, reordered by the learned ranker, or what is popular"
            .into(),
        salt: "demo".into(),
        variants: ["collaborative", "no-diversity", "ranked", "popularity"]
            .map(|name| Variant {
                name: name.into(),
                strategy: name.into(),
                weight: 1.0,
            })
            .to_vec(),
        mode: Mode::Bandit,
        guardrail: Guardrail::default(),
        conversion_window_secs: 3600,
        status: Status::Draft,
        created_at: Utc::now(),
        started_at: None,
        stopped_at: None,
        stopped_variants: Vec::new(),
    }
}

/// What a simulated customer does on a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Acts on an item of their own accord.
    Interact(Interaction),
    /// Opens their list (the customer's id).
    Browse(String),
}

/// The named customers the demo shows.
pub const DEMO_USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

/// Days of end-of-day prices the simulator seeds.
pub const PRICE_DAYS: usize = 60;
/// Share of the customers who follow trends.
pub const TREND_FOLLOWERS: f64 = 0.4;

struct Customer {
    profile: UserProfile,
    sectors: [String; 2],
    trend_follower: bool,
}

/// The simulator.
pub struct BehaviourSimulator {
    config: BehaviourConfig,
    customers: Vec<Customer>,
    items: Vec<Item>,
    /// Daily candles per instrument id, oldest first.
    prices: HashMap<String, Vec<Candle>>,
    /// The instruments in the top quarter of momentum, per day (days since the epoch).
    rising: HashMap<i64, Vec<String>>,
    rng: ChaCha8Rng,
}

impl BehaviourSimulator {
    /// Customers drawn from the seed over the catalogue `items`.
    pub fn new(config: BehaviourConfig, items: Vec<Item>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        // One entry per item: a favourite sector is drawn in proportion to its items, a taste
        // the catalogue can feed.
        let sectors: Vec<String> = items
            .iter()
            .map(|item| item.sector.clone())
            .filter(|s| !s.is_empty())
            .collect();
        let countries = ["DE", "FR", "NL", "ES", "IT"];
        let customers = (0..config.users.max(DEMO_USERS.len()))
            .map(|n| {
                let id = DEMO_USERS
                    .get(n)
                    .map_or_else(|| format!("sim-{n:03}"), |name| (*name).to_owned());
                let risk_profile = rng.random_range(2..=7u8);
                let experience = match rng.random_range(0..3) {
                    0 => Experience::Beginner,
                    1 => Experience::Intermediate,
                    _ => Experience::Experienced,
                };
                let pick = |rng: &mut ChaCha8Rng| sectors.choose(rng).cloned().unwrap_or_default();
                let favourites = [pick(&mut rng), pick(&mut rng)];
                let trend_follower =
                    crate::experiments::assign_fraction(&id, "trend-follower") < TREND_FOLLOWERS;
                Customer {
                    trend_follower,
                    profile: UserProfile {
                        id,
                        risk_profile,
                        experience,
                        country: countries
                            .choose(&mut rng)
                            .map(|c| (*c).to_owned())
                            .unwrap_or_default(),
                        interests: vec![favourites[0].clone()],
                        holdings: Vec::new(),
                    },
                    sectors: favourites,
                }
            })
            .collect();
        let mut simulator = Self {
            customers,
            items,
            prices: HashMap::new(),
            rising: HashMap::new(),
            rng,
            config,
        };
        let prices = demo_prices(
            &simulator.items,
            simulator.config.seed,
            Utc::now(),
            PRICE_DAYS,
        );
        simulator.set_prices(prices);
        simulator
    }

    fn set_prices(&mut self, candles: Vec<Candle>) {
        self.prices.clear();
        self.rising.clear();
        for candle in candles {
            self.prices
                .entry(candle.symbol.clone())
                .or_default()
                .push(candle);
        }
        for candles in self.prices.values_mut() {
            candles.sort_by_key(|c| c.start);
        }
    }

    /// The instruments whose 20-day momentum was in the top quarter at `at` (from the bars
    /// closed by then), cached per day.
    fn rising_at(&mut self, at: DateTime<Utc>) -> &[String] {
        let day = at.timestamp().div_euclid(DAY_SECS);
        let prices = &self.prices;
        self.rising.entry(day).or_insert_with(|| {
            let as_of = DateTime::<Utc>::from_timestamp(day * DAY_SECS, 0).unwrap_or(at);
            let mut ranked: Vec<(f64, &String)> = prices
                .iter()
                .filter_map(|(id, candles)| {
                    let start = candles.len().saturating_sub(3 * LONG_DAYS);
                    Momentum::from_candles(&candles[start..], as_of).map(|m| (m.return_long, id))
                })
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            let quarter = ranked.len().div_ceil(4);
            ranked
                .into_iter()
                .take(quarter)
                .map(|(_, id)| id.clone())
                .collect()
        })
    }

    /// Whether `user` is one of the trend followers.
    pub fn follows_trends(&self, user: &str) -> bool {
        self.customers
            .iter()
            .any(|c| c.profile.id == user && c.trend_follower)
    }

    /// The simulated customers' profiles.
    pub fn profiles(&self) -> Vec<UserProfile> {
        self.customers.iter().map(|c| c.profile.clone()).collect()
    }

    /// What happens on the next tick.
    pub fn next_action(&mut self) -> Option<Action> {
        if self
            .rng
            .random_bool(self.config.browse_share.clamp(0.0, 1.0))
        {
            let customer = self.customers.choose(&mut self.rng)?;
            return Some(Action::Browse(customer.profile.id.clone()));
        }
        self.next_interaction().map(Action::Interact)
    }

    /// `user` opens their list: it is logged as shown, and they react to its first items by
    /// their tastes (open or save what is in a favourite sector, now and then dismiss what is
    /// not). Returns the reactions, for the caller to send.
    pub async fn browse(
        &mut self,
        service: &RecommendService,
        user: &str,
    ) -> Result<Vec<Interaction>, RecommendError> {
        let Some(index) = self.customers.iter().position(|c| c.profile.id == user) else {
            return Ok(Vec::new());
        };
        let rising: Vec<String> = if self.customers[index].trend_follower {
            self.rising_at(Utc::now()).to_vec()
        } else {
            Vec::new()
        };
        let customer = &self.customers[index];
        let list = service.recommend(user, 8, &[]).await?;
        let shown: Vec<String> = list.list.items.iter().map(|r| r.item.clone()).collect();
        service.shown(&list, shown.clone()).await;
        let mut reactions = Vec::new();
        for id in shown.iter().take(6) {
            let Some(item) = self.items.iter().find(|item| &item.id == id) else {
                continue;
            };
            let liked = customer.sectors.contains(&item.sector) || rising.contains(&item.id);
            let roll: f64 = self.rng.random();
            let kind = match (liked, roll) {
                (true, r) if r < 0.06 => InteractionKind::Save,
                (true, r) if r < 0.25 => InteractionKind::Click,
                (false, r) if r < 0.02 => InteractionKind::Click,
                (false, r) if r > 0.985 => InteractionKind::Dismiss,
                _ => continue,
            };
            reactions.push(Interaction {
                user: user.to_owned(),
                item: id.clone(),
                kind,
                rating: None,
                recommendation_id: Some(list.id.clone()),
                at: Utc::now(),
            });
        }
        Ok(reactions)
    }

    /// The next interaction of a customer's own accord, now.
    pub fn next_interaction(&mut self) -> Option<Interaction> {
        self.next_interaction_at(Utc::now())
    }

    /// The next interaction of a customer's own accord, at `at` (what a trend follower chases
    /// depends on the prices known then).
    pub fn next_interaction_at(&mut self, at: DateTime<Utc>) -> Option<Interaction> {
        let suitability = Suitability::default();
        let index = self.rng.random_range(0..self.customers.len().max(1));
        let chases = self.customers.get(index)?.trend_follower && self.rng.random_bool(0.5);
        let rising: Vec<String> = if chases {
            self.rising_at(at).to_vec()
        } else {
            Vec::new()
        };
        let customer = &self.customers[index];
        let suitable: Vec<&Item> = self
            .items
            .iter()
            .filter(|item| suitability.check(&customer.profile, item).is_ok())
            .collect();
        let liked: Vec<&Item> = suitable
            .iter()
            .copied()
            .filter(|item| {
                if rising.is_empty() {
                    customer.sectors.contains(&item.sector)
                } else {
                    rising.contains(&item.id)
                }
            })
            .collect();
        let roll: f64 = self.rng.random();
        let (pool, kind) = if roll < 0.05 {
            (&suitable, InteractionKind::Dismiss)
        } else {
            let kind = match self.rng.random_range(0..100) {
                0..40 => InteractionKind::View,
                40..70 => InteractionKind::Click,
                70..80 => InteractionKind::Save,
                80..88 => InteractionKind::Watch,
                _ => InteractionKind::Buy,
            };
            (
                if liked.is_empty() || self.rng.random_bool(0.2) {
                    &suitable
                } else {
                    &liked
                },
                kind,
            )
        };
        let item = pool.choose(&mut self.rng)?;
        let kind = if item.kind != ItemKind::Instrument
            && matches!(kind, InteractionKind::Buy | InteractionKind::Watch)
        {
            InteractionKind::Save
        } else {
            kind
        };
        Some(Interaction {
            user: customer.profile.id.clone(),
            item: item.id.clone(),
            kind,
            rating: None,
            recommendation_id: None,
            at,
        })
    }

    /// Puts the customers' profiles into the store and, when the store holds no interactions,
    /// a history of `history` interactions spread over the past week.
    pub async fn seed(&mut self, service: &RecommendService) -> Result<usize, RecommendError> {
        let store = service.store();
        let missing: Vec<UserProfile> = {
            let mut missing = Vec::new();
            for profile in self.profiles() {
                if store.user_profile(&profile.id).await?.is_none() {
                    missing.push(profile);
                }
            }
            missing
        };
        store.upsert_user_profiles(&missing).await?;
        self.seed_prices(service).await?;
        let empty = store.interactions_page(None, 1).await?.is_empty();
        if !empty {
            return Ok(0);
        }
        let week = chrono::Duration::days(7);
        let start = Utc::now() - week;
        let mut history = Vec::with_capacity(self.config.history);
        for n in 0..self.config.history {
            let at = start + week * (n as i32) / (self.config.history.max(1) as i32);
            let Some(interaction) = self.next_interaction_at(at) else {
                break;
            };
            history.push(interaction);
        }
        store.record_interactions(&history).await?;
        Ok(history.len())
    }

    /// Writes the demo's end-of-day prices when the store has none for the catalogue's
    /// instruments; when it has some (a restart), the simulator follows the stored ones.
    async fn seed_prices(&mut self, service: &RecommendService) -> Result<(), RecommendError> {
        let market = service.market();
        let now = Utc::now();
        let from = now - chrono::Duration::days(PRICE_DAYS as i64 + 7);
        let mut stored = Vec::new();
        for id in self.prices.keys() {
            let candles = market
                .candles(id, DAY_SECS, from, now, PRICE_DAYS as u32)
                .await?;
            stored.extend(candles);
        }
        if stored.is_empty() {
            let candles: Vec<Candle> = self.prices.values().flatten().cloned().collect();
            let write = finpulse_store::MarketWrite {
                candles,
                ..Default::default()
            };
            market.record_market(&write).await?;
            info!(
                instruments = self.prices.len(),
                days = PRICE_DAYS,
                "demo end-of-day prices seeded"
            );
        } else {
            self.set_prices(stored);
        }
        Ok(())
    }

    /// Sends interactions through the service (onto the log) at the configured rate until
    /// `shutdown`.
    pub async fn run(mut self, service: Arc<RecommendService>, shutdown: CancellationToken) {
        if self.config.rate_per_sec <= 0.0 {
            return;
        }
        let period = Duration::from_secs_f64(1.0 / self.config.rate_per_sec);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(
            customers = self.customers.len(),
            rate = self.config.rate_per_sec,
            "behaviour simulator running"
        );
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let interactions = match self.next_action() {
                None => return,
                Some(Action::Interact(interaction)) => vec![interaction],
                Some(Action::Browse(user)) => match self.browse(&service, &user).await {
                    Ok(reactions) => reactions,
                    // No model yet: nothing to show.
                    Err(RecommendError::NotReady) => Vec::new(),
                    Err(error) => {
                        warn!(%error, "behaviour simulator could not open a list");
                        Vec::new()
                    }
                },
            };
            for interaction in interactions {
                if let Err(error) = service.track(interaction).await {
                    warn!(%error, "behaviour simulator could not send an interaction");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_followers_chase_the_rising_instruments() {
        let catalogue = crate::catalogue::Catalogue::demo();
        let mut simulator =
            BehaviourSimulator::new(BehaviourConfig::default(), catalogue.items().to_vec());
        let now = Utc::now();
        let rising: Vec<String> = simulator.rising_at(now).to_vec();
        assert!(!rising.is_empty());
        let (mut followers, mut followers_rising, mut others, mut others_rising) = (0, 0, 0, 0);
        for _ in 0..8_000 {
            let interaction = simulator.next_interaction_at(now).unwrap();
            let on_rising = rising.contains(&interaction.item);
            if simulator.follows_trends(&interaction.user) {
                followers += 1;
                followers_rising += usize::from(on_rising);
            } else {
                others += 1;
                others_rising += usize::from(on_rising);
            }
        }
        let share = |hits: usize, all: usize| hits as f64 / all.max(1) as f64;
        eprintln!(
            "rising {} items; followers {followers} ({:.3} on rising), others {others} ({:.3})",
            rising.len(),
            share(followers_rising, followers),
            share(others_rising, others)
        );
        assert!(
            share(followers_rising, followers) > 2.0 * share(others_rising, others),
            "trend followers go to rising instruments more than twice as often"
        );
    }
}
