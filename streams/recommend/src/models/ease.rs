//! EASE: "Embarrassingly Shallow Autoencoders for Sparse Data" (Steck, WWW 2019).
//!
//! The model is one item × item matrix B, the ridge regression of every item's column on all
//! the others with a zero diagonal, which has a closed form: with P = (XᵀX + λI)⁻¹,
//! B = I − P · diag(1 / diag(P)). A user's scores are their profile times B, so a new
//! interaction changes the user's scores at once and exactly; nothing is folded in.
//!
//! Training is one Cholesky factorisation and inverse of an item × item matrix (faer, both
//! cores): a second for a few thousand items, minutes past ten thousand, which is why
//! [`super::CfConfig::max_dense_items`] hands larger catalogues to ALS.

use faer::{Mat, Side, linalg::solvers::DenseSolveCore};
use serde::{Deserialize, Serialize};

use super::{Interactions, Profile};
use crate::RecommendError;

/// EASE's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EaseConfig {
    /// The L2 penalty λ on B: larger for more data per item.
    pub lambda: f64,
}

impl Default for EaseConfig {
    fn default() -> Self {
        Self { lambda: 500.0 }
    }
}

/// XᵀX for binary X: how many users engaged with both items of each pair. Kept apart from the
/// model so several λ can be tried on one count.
#[derive(Debug, Clone)]
pub struct ItemGram {
    counts: Mat<f64>,
}

impl ItemGram {
    /// Counts co-occurrences, one user row at a time (the work is Σ over users of their item
    /// count squared, far less than the dense product for sparse data).
    pub fn build(interactions: &Interactions) -> Self {
        let items = interactions.item_count();
        let mut counts = Mat::<f64>::zeros(items, items);
        let by_user = interactions.by_user();
        for user in 0..by_user.len() {
            let row = by_user.row(user);
            for left in row {
                let mut column = counts.col_mut(left.item as usize);
                for right in row {
                    column[right.item as usize] += 1.0;
                }
            }
        }
        Self { counts }
    }

    /// The number of items.
    pub fn items(&self) -> usize {
        self.counts.nrows()
    }
}

/// A trained EASE model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ease {
    items: usize,
    /// B in rows: `weights[i * items + j]` is item i's weight in the score of item j.
    weights: Vec<f32>,
}

impl Ease {
    /// Trains on the interactions (binary: an item a user engaged with counts once).
    pub fn fit(interactions: &Interactions, config: &EaseConfig) -> Result<Self, RecommendError> {
        Self::from_gram(&ItemGram::build(interactions), config)
    }

    /// Trains from a co-occurrence count.
    pub fn from_gram(gram: &ItemGram, config: &EaseConfig) -> Result<Self, RecommendError> {
        if !(config.lambda.is_finite() && config.lambda > 0.0) {
            return Err(RecommendError::InvalidInput(format!(
                "ease lambda must be a positive number, not {}",
                config.lambda
            )));
        }
        let items = gram.items();
        let mut regularised = gram.counts.clone();
        for item in 0..items {
            regularised[(item, item)] += config.lambda;
        }
        let inverse = regularised
            .llt(Side::Lower)
            .map_err(|error| RecommendError::Numerical(format!("ease cholesky: {error:?}")))?
            .inverse();
        let diagonal: Vec<f64> = (0..items).map(|item| inverse[(item, item)]).collect();
        let mut weights = vec![0f32; items * items];
        // P is symmetric, so row i of B is column i of P scaled by −1/P_jj: read columns
        // (contiguous in faer's column-major layout), write rows.
        for (row_index, row) in weights.chunks_mut(items.max(1)).enumerate().take(items) {
            let column = inverse.col(row_index);
            for (target, (value, scale)) in row.iter_mut().zip(column.iter().zip(&diagonal)) {
                *target = (-value / scale) as f32;
            }
            row[row_index] = 0.0;
        }
        Ok(Self { items, weights })
    }

    /// The number of items the model knows.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Adds the profile's scores into `scores` (zeroed first); items beyond the model's
    /// catalogue (added after training) score 0.
    pub fn score(&self, profile: &Profile, scores: &mut [f32]) {
        scores.fill(0.0);
        let known = scores.len().min(self.items);
        for &(item, weight) in &profile.items {
            let item = item as usize;
            if item >= self.items {
                continue;
            }
            let row = &self.weights[item * self.items..item * self.items + known];
            for (score, value) in scores[..known].iter_mut().zip(row) {
                *score += weight * value;
            }
        }
    }

    /// B's cell: how much engaging with `from` raises the score of `to`.
    pub fn weight(&self, from: u32, to: u32) -> f32 {
        self.weights[from as usize * self.items + to as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::interactions::unit_weighted as matrix;

    #[test]
    fn items_seen_together_recommend_each_other() {
        let interactions = matrix(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "a"),
            ("u2", "b"),
            ("u3", "c"),
            ("u3", "d"),
            ("u4", "a"),
        ]);
        let model = Ease::fit(&interactions, &EaseConfig { lambda: 0.5 }).unwrap();
        let a = interactions.item_index("a").unwrap();
        let b = interactions.item_index("b").unwrap();
        let c = interactions.item_index("c").unwrap();
        let mut scores = vec![0.0; interactions.item_count()];
        model.score(
            &Profile {
                items: vec![(a, 1.0)],
            },
            &mut scores,
        );
        assert!(scores[b as usize] > 0.3, "{scores:?}");
        assert!(scores[c as usize].abs() < 1e-6, "{scores:?}");
        assert_eq!(model.weight(a, a), 0.0);
    }

    #[test]
    fn a_non_positive_lambda_is_refused() {
        let interactions = matrix(&[("u1", "a")]);
        assert!(Ease::fit(&interactions, &EaseConfig { lambda: 0.0 }).is_err());
        assert!(Ease::fit(&interactions, &EaseConfig { lambda: f64::NAN }).is_err());
    }
}
