//! A small learned combiner of lexical and dense evidence: a linear score over a handful of
//! per-candidate features, fitted listwise (softmax over each query's candidates, the right
//! entry's log-probability maximized, L2-regularized) by gradient descent.
//!
//! What it can learn that a fixed weighted sum cannot: that a lexical match matters more when
//! the dense scores of the top candidates are close, that the lexical *rank* says more than the
//! BM25 value, that an entry without any lexical hit is less likely, and how far to trust each
//! of several dense models. A few weights, fitted in milliseconds on the knowledge base's own
//! leave-one-out questions.

/// Most dense models the combiner takes signals from.
pub const MAX_DENSE_MODELS: usize = 4;

/// How many features a candidate has: four lexical, three per dense model (zero for models
/// that are not there).
pub const FEATURES: usize = 4 + 3 * MAX_DENSE_MODELS;

/// One candidate's features: see [`features`].
pub type Features = [f32; FEATURES];

/// Where a candidate stands in one dense model's ranking.
#[derive(Debug, Clone, Copy)]
pub struct DenseSignal {
    /// Its cosine.
    pub cosine: f32,
    /// The query's best cosine in this model.
    pub best_cosine: f32,
    /// Its 0-based rank, `None` when not ranked.
    pub rank: Option<usize>,
}

/// The features of one candidate: its lexical score (over the query's best) and rank, and
/// each dense model's cosine, gap to the best and rank (models beyond
/// [`MAX_DENSE_MODELS`] are ignored).
pub fn features(
    dense: &[DenseSignal],
    lexical: Option<f32>,
    lexical_rank: Option<usize>,
) -> Features {
    let reciprocal = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (r as f32 + 1.0));
    let mut out = [0.0; FEATURES];
    out[0] = lexical.unwrap_or(0.0);
    out[1] = reciprocal(lexical_rank);
    out[2] = if lexical.is_some() { 1.0 } else { 0.0 };
    // Lexical agreement with a confident primary dense top: both say the same thing.
    out[3] = lexical.unwrap_or(0.0) * dense.first().map_or(0.0, |d| reciprocal(d.rank));
    for (model, signal) in dense.iter().take(MAX_DENSE_MODELS).enumerate() {
        let at = 4 + 3 * model;
        out[at] = signal.cosine;
        out[at + 1] = signal.cosine - signal.best_cosine;
        out[at + 2] = reciprocal(signal.rank);
    }
    out
}

/// One training query: its candidates' features and which one is right.
#[derive(Debug, Clone)]
pub struct Example {
    /// Features of each candidate.
    pub candidates: Vec<Features>,
    /// Position of the right entry among them.
    pub right: usize,
}

/// The fitted weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combiner {
    /// One weight per feature.
    pub weights: Features,
}

impl Combiner {
    /// Scores a candidate.
    pub fn score(&self, features: &Features) -> f32 {
        self.weights.iter().zip(features).map(|(w, x)| w * x).sum()
    }

    /// Fits the weights on `examples`.
    pub fn fit(examples: &[Example], l2: f32, epochs: usize) -> Self {
        // Start from the primary dense model alone (weight on its cosine), so an empty or
        // useless training set leaves the dense ranking in place.
        let mut weights = [0.0_f32; FEATURES];
        weights[4] = 10.0;
        let learning_rate = 0.5;
        let n = examples.len().max(1) as f32;
        for _ in 0..epochs {
            let mut gradient = [0.0_f32; FEATURES];
            for example in examples {
                if example.candidates.is_empty() {
                    continue;
                }
                let scores: Vec<f32> = example
                    .candidates
                    .iter()
                    .map(|x| weights.iter().zip(x).map(|(w, v)| w * v).sum())
                    .collect();
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f32 = exps.iter().sum();
                for (candidate, (x, e)) in example.candidates.iter().zip(&exps).enumerate() {
                    let p = e / total;
                    let target = if candidate == example.right { 1.0 } else { 0.0 };
                    for (g, v) in gradient.iter_mut().zip(x) {
                        *g += (p - target) * v;
                    }
                }
            }
            for (w, g) in weights.iter_mut().zip(&gradient) {
                *w -= learning_rate * (g / n + l2 * *w);
            }
        }
        Self { weights }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(cosine: f32, best_cosine: f32, rank: usize) -> DenseSignal {
        DenseSignal {
            cosine,
            best_cosine,
            rank: Some(rank),
        }
    }

    #[test]
    fn it_learns_to_trust_a_signal_that_picks_the_right_candidate() {
        // The right candidate always has the lexical hit; dense alone prefers a wrong one.
        let examples: Vec<Example> = (0..50)
            .map(|_| Example {
                candidates: vec![
                    features(&[signal(0.80, 0.80, 0)], None, None),
                    features(&[signal(0.78, 0.80, 1)], Some(1.0), Some(0)),
                ],
                right: 1,
            })
            .collect();
        let combiner = Combiner::fit(&examples, 0.001, 300);
        let wrong = combiner.score(&examples[0].candidates[0]);
        let right = combiner.score(&examples[0].candidates[1]);
        assert!(right > wrong, "{combiner:?}");
    }

    #[test]
    fn with_nothing_to_learn_from_it_ranks_like_dense() {
        let combiner = Combiner::fit(&[], 0.01, 100);
        let high = features(&[signal(0.9, 0.9, 0)], None, None);
        let low = features(&[signal(0.5, 0.9, 1)], None, None);
        assert!(combiner.score(&high) > combiner.score(&low));
    }
}
