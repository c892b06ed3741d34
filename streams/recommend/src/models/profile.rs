//! A user as the models see them: weighted items, and the top-k selection over scores.

use std::cmp::Ordering;

use super::Entry;

/// A user's items with the weight each carries in scoring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// (item index, weight) pairs, one per distinct item.
    pub items: Vec<(u32, f32)>,
}

impl Profile {
    /// A profile from a user's row (oldest first), each item weighted by its interaction
    /// weight and, when `recency` > 0, faded by how many newer items the user has:
    /// the k-th newest of n items weighs `exp(-k / (recency × n))`.
    ///
    /// Rank rather than clock time, because catalogues differ wildly in how often people come
    /// back: MovieLens users rate a hundred films in one evening, a bank's customers buy twice
    /// a year. A share of the user's own history fades the same way for both.
    pub fn from_row(row: &[Entry], recency: f32) -> Self {
        let count = row.len();
        let items = row
            .iter()
            .enumerate()
            .map(|(position, entry)| {
                let newer = (count - 1 - position) as f32;
                let fade = if recency > 0.0 {
                    (-newer / (recency * count as f32)).exp()
                } else {
                    1.0
                };
                (entry.item, entry.weight * fade)
            })
            .collect();
        Self { items }
    }

    /// Whether the profile is empty (a user with no history yet).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The `k` best items by score, best first, skipping `exclude`d items (sorted or not) and
/// items whose score is not finite. Ties go to the lower index, so results are reproducible.
pub fn top_k(scores: &[f32], exclude: impl Fn(u32) -> bool, k: usize) -> Vec<(u32, f32)> {
    let better = |a: &(u32, f32), b: &(u32, f32)| match b.1.partial_cmp(&a.1) {
        Some(Ordering::Equal) | None => a.0.cmp(&b.0),
        Some(order) => order,
    };
    let mut candidates: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(_, score)| score.is_finite())
        .map(|(index, &score)| (u32::try_from(index).expect("fewer than 2^32 items"), score))
        .filter(|(index, _)| !exclude(*index))
        .collect();
    if k == 0 {
        return Vec::new();
    }
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k - 1, better);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(better);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_index_and_skips_excluded() {
        let scores = [0.5, 2.0, f32::NAN, 2.0, 1.0, f32::NEG_INFINITY];
        let top = top_k(&scores, |item| item == 4, 3);
        assert_eq!(top, vec![(1, 2.0), (3, 2.0), (0, 0.5)]);
        assert!(top_k(&scores, |_| false, 0).is_empty());
        assert_eq!(top_k(&scores, |_| false, 10).len(), 4);
    }

    #[test]
    fn recency_fades_older_items() {
        let row: Vec<Entry> = (0..4)
            .map(|item| Entry {
                item,
                weight: 1.0,
                at: i64::from(item),
            })
            .collect();
        let flat = Profile::from_row(&row, 0.0);
        assert!(flat.items.iter().all(|(_, weight)| *weight == 1.0));
        let faded = Profile::from_row(&row, 0.5);
        let weights: Vec<f32> = faded.items.iter().map(|(_, weight)| *weight).collect();
        assert_eq!(weights[3], 1.0);
        assert!(weights.windows(2).all(|pair| pair[0] < pair[1]));
        assert!((weights[2] - (-0.5f32).exp()).abs() < 1e-6);
    }
}
