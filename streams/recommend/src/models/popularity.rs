//! The popularity baseline: items by how many users engaged with them.

use super::Interactions;

/// Item popularity (distinct users per item).
#[derive(Debug, Clone)]
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Counts each item's users.
    pub fn fit(interactions: &Interactions) -> Self {
        Self {
            counts: interactions.item_popularity(),
        }
    }

    /// Every item's score: its user count.
    pub fn scores(&self) -> &[f32] {
        &self.counts
    }
}
