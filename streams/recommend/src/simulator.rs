//! The user-behaviour simulator: customers with tastes, clicking, saving and buying.
//!
//! Like the market simulator it is seeded and on by default in the embedded mode, so a new
//! user sees recommendations change live. Each simulated customer has a risk profile, an
//! experience level, a country and two favourite sectors; they mostly engage with suitable
//! items of those sectors, sometimes with anything suitable, and dismiss what is not their
//! taste. The named demo customers (`alice`, `bob`, `carol`, `dave`, `erin`) are among them,
//! so the dashboard's user picker shows lists that move.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
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
    /// Seed.
    pub seed: u64,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            users: 60,
            rate_per_sec: 4.0,
            history: 4_000,
            seed: 42,
        }
    }
}

/// The named customers the demo shows.
pub const DEMO_USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

struct Customer {
    profile: UserProfile,
    sectors: [String; 2],
}

/// The simulator.
pub struct BehaviourSimulator {
    config: BehaviourConfig,
    customers: Vec<Customer>,
    items: Vec<Item>,
    rng: ChaCha8Rng,
}

impl BehaviourSimulator {
    /// Customers drawn from the seed over the catalogue `items`.
    pub fn new(config: BehaviourConfig, items: Vec<Item>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut sectors: Vec<String> = items
            .iter()
            .map(|item| item.sector.clone())
            .filter(|s| !s.is_empty())
            .collect();
        sectors.sort();
        sectors.dedup();
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
                Customer {
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
        Self {
            config,
            customers,
            items,
            rng,
        }
    }

    /// The simulated customers' profiles.
    pub fn profiles(&self) -> Vec<UserProfile> {
        self.customers.iter().map(|c| c.profile.clone()).collect()
    }

    /// The next interaction.
    pub fn next_interaction(&mut self) -> Option<Interaction> {
        let suitability = Suitability::default();
        let customer = self.customers.choose(&mut self.rng)?;
        let suitable: Vec<&Item> = self
            .items
            .iter()
            .filter(|item| suitability.check(&customer.profile, item).is_ok())
            .collect();
        let liked: Vec<&Item> = suitable
            .iter()
            .copied()
            .filter(|item| customer.sectors.contains(&item.sector))
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
            at: Utc::now(),
        })
    }

    /// Puts the customers' profiles into the store and, when the store holds no interactions,
    /// a history of `history` interactions spread over the past week.
    pub async fn seed(&mut self, service: &RecommendService) -> Result<usize, RecommendError> {
        let store = service.store();
        let missing: Vec<UserProfile> = {
            let mut missing = Vec::new();
            for profile in self.profiles() {
                if store
                    .user_profile(&profile.id)
                    .await
                    .map_err(|e| RecommendError::Store(e.to_string()))?
                    .is_none()
                {
                    missing.push(profile);
                }
            }
            missing
        };
        store
            .upsert_user_profiles(&missing)
            .await
            .map_err(|e| RecommendError::Store(e.to_string()))?;
        let empty = store
            .interactions_page(None, 1)
            .await
            .map_err(|e| RecommendError::Store(e.to_string()))?
            .is_empty();
        if !empty {
            return Ok(0);
        }
        let week = chrono::Duration::days(7);
        let start = Utc::now() - week;
        let mut history = Vec::with_capacity(self.config.history);
        for n in 0..self.config.history {
            let Some(mut interaction) = self.next_interaction() else {
                break;
            };
            interaction.at = start + week * (n as i32) / (self.config.history.max(1) as i32);
            history.push(interaction);
        }
        store
            .record_interactions(&history)
            .await
            .map_err(|e| RecommendError::Store(e.to_string()))?;
        Ok(history.len())
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
            let Some(interaction) = self.next_interaction() else {
                return;
            };
            if let Err(error) = service.track(interaction).await {
                warn!(%error, "behaviour simulator could not send an interaction");
            }
        }
    }
}
