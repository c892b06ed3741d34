//! Item-kNN: the classic neighbourhood model for implicit feedback, kept beside EASE so the two
//! item-based approaches are compared on the same data (`finpulse eval recommender --model
//! knn`, and tuning tries both when the model is `auto`).
//!
//! Two items are similar by the cosine of their columns in the binary user × item matrix
//! (users who engaged with both over the geometric mean of each one's users), shrunk towards
//! zero by a constant in the denominator so that a pair seen together once or twice does not
//! score like a pair seen together a thousand times (Koren 2008's shrinkage, as `implicit`'s
//! `CosineRecommender` uses none and Gorse's item-kNN does). Each item keeps only its
//! `neighbours` most similar items; a user's scores are the profile-weighted sum of their items'
//! neighbour similarities, so, like EASE, a new interaction changes the scores at once and
//! exactly.
//!
//! Co-occurrences are counted sparsely, one item at a time on rayon's pool with a dense
//! accumulator per thread: the work is the sum over users of their item count squared, with no
//! item × item matrix, so it serves catalogues past EASE's dense limit too.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Interactions, Profile};
use crate::RecommendError;

/// Item-kNN's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnConfig {
    /// How many most similar items each item keeps.
    pub neighbours: usize,
    /// The constant added to the cosine's denominator (0: plain cosine).
    pub shrink: f32,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            neighbours: 100,
            shrink: 10.0,
        }
    }
}

/// A trained item-kNN model: each item's neighbours with their similarity, most similar first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Knn {
    neighbours: Vec<Vec<(u32, f32)>>,
}

impl Knn {
    /// Trains on the interactions (binary: an item a user engaged with counts once).
    pub fn fit(interactions: &Interactions, config: &KnnConfig) -> Result<Self, RecommendError> {
        if config.neighbours == 0 {
            return Err(RecommendError::InvalidInput(
                "knn neighbours must be at least 1".into(),
            ));
        }
        if !(config.shrink.is_finite() && config.shrink >= 0.0) {
            return Err(RecommendError::InvalidInput(format!(
                "knn shrink must be a number from 0, not {}",
                config.shrink
            )));
        }
        let items = interactions.item_count();
        let by_item = interactions.by_item();
        let users_of: Vec<f32> = (0..items)
            .map(|item| by_item.row(item).len() as f32)
            .collect();
        let neighbours = (0..items)
            .into_par_iter()
            .map_init(
                || vec![0u32; items],
                |together, item| {
                    let mut touched: Vec<u32> = Vec::new();
                    for user in by_item.row(item) {
                        for other in interactions.user_row(user.item) {
                            let cell = &mut together[other.item as usize];
                            if *cell == 0 {
                                touched.push(other.item);
                            }
                            *cell += 1;
                        }
                    }
                    let mut similar: Vec<(u32, f32)> = Vec::with_capacity(touched.len());
                    for other in touched {
                        let count = std::mem::take(&mut together[other as usize]);
                        if other as usize == item {
                            continue;
                        }
                        let norm = (users_of[item] * users_of[other as usize]).sqrt();
                        similar.push((other, count as f32 / (norm + config.shrink)));
                    }
                    let better =
                        |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                    if similar.len() > config.neighbours {
                        similar.select_nth_unstable_by(config.neighbours - 1, better);
                        similar.truncate(config.neighbours);
                    }
                    similar.sort_unstable_by(better);
                    similar
                },
            )
            .collect();
        Ok(Self { neighbours })
    }

    /// The number of items the model knows.
    pub fn items(&self) -> usize {
        self.neighbours.len()
    }

    /// Writes the profile's scores into `scores` (zeroed first); items beyond the model's
    /// catalogue (added after training) score 0.
    pub fn score(&self, profile: &Profile, scores: &mut [f32]) {
        scores.fill(0.0);
        for &(item, weight) in &profile.items {
            let Some(neighbours) = self.neighbours.get(item as usize) else {
                continue;
            };
            for &(other, similarity) in neighbours {
                if let Some(score) = scores.get_mut(other as usize) {
                    *score += weight * similarity;
                }
            }
        }
    }

    /// How similar `to` is to `from` (0 when it is not among `from`'s neighbours).
    pub fn weight(&self, from: u32, to: u32) -> f32 {
        self.neighbours
            .get(from as usize)
            .and_then(|neighbours| neighbours.iter().find(|(other, _)| *other == to))
            .map_or(0.0, |(_, similarity)| *similarity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::interactions::unit_weighted as matrix;

    /// The similarities against a hand count: a and b share users u1, u2 (a has 3 users, b 2),
    /// a and c share u3 (c has 2 users); with shrink 1, sim(a, b) = 2 / (√6 + 1) and
    /// sim(a, c) = 1 / (√6 + 1).
    #[test]
    fn similarities_are_shrunk_cosines_of_the_item_columns() {
        let interactions = matrix(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "a"),
            ("u2", "b"),
            ("u3", "a"),
            ("u3", "c"),
            ("u4", "c"),
            ("u5", "d"),
        ]);
        let index = |id: &str| interactions.item_index(id).unwrap();
        let (a, b, c, d) = (index("a"), index("b"), index("c"), index("d"));
        let model = Knn::fit(
            &interactions,
            &KnnConfig {
                neighbours: 10,
                shrink: 1.0,
            },
        )
        .unwrap();
        let root6 = 6f32.sqrt();
        assert!((model.weight(a, b) - 2.0 / (root6 + 1.0)).abs() < 1e-6);
        assert!((model.weight(a, c) - 1.0 / (root6 + 1.0)).abs() < 1e-6);
        assert_eq!(model.weight(a, a), 0.0);
        assert_eq!(model.weight(a, d), 0.0);
        assert_eq!(model.weight(b, a), model.weight(a, b), "symmetric");

        let mut scores = vec![0.0; interactions.item_count()];
        model.score(
            &Profile {
                items: vec![(a, 1.0), (c, 0.5)],
            },
            &mut scores,
        );
        assert!(scores[b as usize] > scores[d as usize]);
        assert!((scores[b as usize] - 2.0 / (root6 + 1.0)).abs() < 1e-6);
        // c's neighbour a (sim 1 / (√6 + 1)) weighted by 0.5.
        assert!((scores[a as usize] - 0.5 / (root6 + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn each_item_keeps_only_its_nearest_neighbours() {
        let mut rows = Vec::new();
        // x is seen with y by three users, with z by two, with w by one.
        for (user, items) in [
            ("u1", &["x", "y", "z", "w"][..]),
            ("u2", &["x", "y", "z"][..]),
            ("u3", &["x", "y"][..]),
        ] {
            for item in items {
                rows.push((user, *item));
            }
        }
        let interactions = matrix(&rows);
        let model = Knn::fit(
            &interactions,
            &KnnConfig {
                neighbours: 2,
                shrink: 0.0,
            },
        )
        .unwrap();
        let index = |id: &str| interactions.item_index(id).unwrap();
        assert!(model.weight(index("x"), index("y")) > model.weight(index("x"), index("z")));
        assert!(model.weight(index("x"), index("z")) > 0.0);
        assert_eq!(model.weight(index("x"), index("w")), 0.0, "not kept");
    }

    #[test]
    fn bad_settings_are_refused() {
        let interactions = matrix(&[("u1", "a")]);
        let bad = |neighbours, shrink| {
            Knn::fit(&interactions, &KnnConfig { neighbours, shrink }).is_err()
        };
        assert!(bad(0, 1.0));
        assert!(bad(10, -1.0));
        assert!(bad(10, f32::NAN));
    }
}
