//! How lexical and dense scores become one ranking: the fusions, the calibration's
//! candidates, and the learned combiner's candidates and cross-validation.

use std::collections::HashMap;

use super::combiner::{self, Combiner};
use super::metrics::{Metrics, RankOutcome};

/// How lexical and dense scores become one ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Dense scores alone (the primary model's).
    Dense,
    /// The mean cosine over every dense model: an ensemble without lexical evidence.
    DenseMean,
    /// BM25 alone.
    Lexical,
    /// Reciprocal-rank fusion: Σ 1 / (k + rank) over both rankings.
    Rrf {
        /// The rank offset (60 in the original paper).
        k: f32,
    },
    /// cosine + weight · BM25 / (the query's best BM25).
    Weighted {
        /// The lexical signal's weight.
        lexical_weight: f32,
    },
    /// A linear combiner over both rankings' scores and ranks, fitted on the knowledge base
    /// ([`combiner`]); it reorders the union of both rankings' top candidates.
    Learned(Combiner),
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dense => write!(f, "dense only"),
            Self::DenseMean => write!(f, "mean cosine of the dense models"),
            Self::Lexical => write!(f, "lexical only"),
            Self::Rrf { k } => write!(f, "reciprocal-rank fusion (k = {k})"),
            Self::Weighted { lexical_weight } => {
                write!(f, "weighted sum (lexical weight {lexical_weight})")
            }
            Self::Learned(_) => write!(f, "learned combiner (5-fold cross-validated)"),
        }
    }
}

/// The fusions [`super::FaqIndex::calibrate`] tries, simplest first (ties keep the simpler one).
pub(crate) const CANDIDATES: &[Fusion] = &[
    Fusion::Dense,
    Fusion::DenseMean,
    Fusion::Weighted {
        lexical_weight: 0.05,
    },
    Fusion::Weighted {
        lexical_weight: 0.1,
    },
    Fusion::Weighted {
        lexical_weight: 0.15,
    },
    Fusion::Weighted {
        lexical_weight: 0.2,
    },
    Fusion::Weighted {
        lexical_weight: 0.3,
    },
    Fusion::Weighted {
        lexical_weight: 0.4,
    },
    Fusion::Weighted {
        lexical_weight: 0.6,
    },
    Fusion::Weighted {
        lexical_weight: 0.8,
    },
    Fusion::Weighted {
        lexical_weight: 1.0,
    },
    Fusion::Rrf { k: 60.0 },
    Fusion::Lexical,
];

/// The weight used when the knowledge base has too few variants to calibrate on.
pub(crate) const DEFAULT_FUSION: Fusion = Fusion::Weighted {
    lexical_weight: 0.2,
};

/// Fewest leave-one-out questions worth calibrating on.
pub(crate) const MIN_CALIBRATION_QUERIES: usize = 20;

/// How deep into each ranking the learned combiner looks for candidates.
const COMBINER_DEPTH: usize = 20;

/// Folds of the learned combiner's cross-validation.
const FOLDS: usize = 5;

/// The combiner's L2 penalty and passes.
pub(crate) const COMBINER_L2: f32 = 0.01;
pub(crate) const COMBINER_EPOCHS: usize = 300;

/// Per-id scores of one query before ranking.
#[derive(Debug, Default)]
pub(crate) struct Scores {
    /// id position → (best BM25, its passage).
    pub(crate) lexical: HashMap<usize, (f32, usize)>,
    /// Per dense model (the primary first): id position → (best cosine, its passage).
    pub(crate) dense: Vec<HashMap<usize, (f32, usize)>>,
    /// Words in the query (at least 1): BM25 grows with them, so a confidence divides by it.
    pub(crate) query_words: usize,
}

/// Ids by `fusion` of `scores`, best first; ties by id position so rankings are stable.
pub(crate) fn rank(scores: &Scores, fusion: Fusion) -> Vec<(usize, f32)> {
    let empty = HashMap::new();
    let primary = scores.dense.first().unwrap_or(&empty);
    let mut ranking = match fusion {
        Fusion::Learned(combiner) => {
            let candidates = combiner_candidates(scores);
            let mut ranked: Vec<(usize, f32)> = candidates
                .iter()
                .map(|(id, features)| (*id, combiner.score(features)))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            // Beyond the candidates, dense order (scored below every candidate).
            for (id, _) in ordered(primary) {
                if !ranked.iter().any(|(r, _)| *r == id) {
                    ranked.push((id, f32::NEG_INFINITY));
                }
            }
            return ranked;
        }
        Fusion::Dense => return ordered(primary),
        Fusion::DenseMean => {
            let models = scores.dense.len().max(1) as f32;
            primary
                .keys()
                .map(|id| {
                    let sum: f32 = scores
                        .dense
                        .iter()
                        .map(|per_model| per_model.get(id).map_or(0.0, |d| d.0))
                        .sum();
                    (*id, sum / models)
                })
                .collect::<Vec<_>>()
        }
        Fusion::Lexical => return ordered(&scores.lexical),
        Fusion::Rrf { k } => {
            let mut fused: HashMap<usize, f32> = HashMap::new();
            for list in [ordered(&scores.lexical), ordered(primary)] {
                for (rank, (id, _)) in list.into_iter().enumerate() {
                    *fused.entry(id).or_default() += 1.0 / (k + rank as f32 + 1.0);
                }
            }
            fused.into_iter().collect::<Vec<_>>()
        }
        Fusion::Weighted { lexical_weight } => {
            let best_lexical = scores
                .lexical
                .values()
                .map(|(score, _)| *score)
                .fold(0.0_f32, f32::max);
            primary
                .iter()
                .map(|(id, (cosine, _))| {
                    let lexical = scores
                        .lexical
                        .get(id)
                        .map(|(score, _)| score / best_lexical.max(f32::MIN_POSITIVE))
                        .unwrap_or(0.0);
                    (*id, cosine + lexical_weight * lexical)
                })
                .collect::<Vec<_>>()
        }
    };
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranking
}

/// The learned combiner's candidates for `scores` (the union of both rankings' tops) with
/// their features, in dense order then lexical order.
pub(crate) fn combiner_candidates(scores: &Scores) -> Vec<(usize, combiner::Features)> {
    let ordered_dense: Vec<Vec<(usize, f32)>> = scores.dense.iter().map(ordered).collect();
    let lexical = ordered(&scores.lexical);
    let best_lexical = lexical.first().map_or(0.0, |l| l.1).max(f32::MIN_POSITIVE);
    let ranks = |list: &[(usize, f32)]| -> HashMap<usize, usize> {
        list.iter()
            .enumerate()
            .map(|(r, (id, _))| (*id, r))
            .collect()
    };
    let dense_ranks: Vec<HashMap<usize, usize>> =
        ordered_dense.iter().map(|list| ranks(list)).collect();
    let lexical_rank = ranks(&lexical);
    let mut ids: Vec<usize> = Vec::new();
    for list in ordered_dense.iter().chain([&lexical]) {
        for (id, _) in list.iter().take(COMBINER_DEPTH) {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let signals: Vec<combiner::DenseSignal> = scores
                .dense
                .iter()
                .zip(&ordered_dense)
                .zip(&dense_ranks)
                .map(|((map, list), rank)| combiner::DenseSignal {
                    cosine: map.get(&id).map_or(0.0, |d| d.0),
                    best_cosine: list.first().map_or(0.0, |d| d.1),
                    rank: rank.get(&id).copied(),
                })
                .collect();
            let lexical = scores.lexical.get(&id).map(|l| l.0 / best_lexical);
            (
                id,
                combiner::features(&signals, lexical, lexical_rank.get(&id).copied()),
            )
        })
        .collect()
}

/// The learned combiner's mean leave-one-out quality over folds by entry id: fitted on
/// the other folds' questions, asked the fold's. `None` with too few questions.
pub(crate) fn cross_validate_combiner(
    examples: &[(usize, Vec<(usize, combiner::Features)>)],
) -> Option<(Fusion, Metrics)> {
    if examples.len() < MIN_CALIBRATION_QUERIES {
        return None;
    }
    let mut outcomes = Vec::with_capacity(examples.len());
    let mut last = None;
    for fold in 0..FOLDS {
        let training = training_examples(examples.iter().filter(|(id, _)| id % FOLDS != fold));
        let fitted = Combiner::fit(&training, COMBINER_L2, COMBINER_EPOCHS);
        for (target, candidates) in examples.iter().filter(|(id, _)| id % FOLDS == fold) {
            let ranking = rank_candidates(&fitted, candidates);
            outcomes.push(RankOutcome::of(ranking.iter().position(|id| id == target)));
        }
        last = Some(fitted);
    }
    Some((Fusion::Learned(last?), Metrics::of(&outcomes)))
}

/// Ids of `map` by score, best first; ties by id position so rankings are stable.
pub(crate) fn ordered(map: &HashMap<usize, (f32, usize)>) -> Vec<(usize, f32)> {
    let mut list: Vec<(usize, f32)> = map.iter().map(|(id, (score, _))| (*id, *score)).collect();
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    list
}

/// Training examples from leave-one-out questions whose right entry is among the candidates.
pub(crate) fn training_examples<'a>(
    examples: impl Iterator<Item = &'a (usize, Vec<(usize, combiner::Features)>)>,
) -> Vec<combiner::Example> {
    examples
        .filter_map(|(target, candidates)| {
            let right = candidates.iter().position(|(id, _)| id == target)?;
            Some(combiner::Example {
                candidates: candidates.iter().map(|(_, features)| *features).collect(),
                right,
            })
        })
        .collect()
}

/// Candidate ids by the combiner's score, best first.
pub(crate) fn rank_candidates(
    combiner: &Combiner,
    candidates: &[(usize, combiner::Features)],
) -> Vec<usize> {
    let mut scored: Vec<(usize, f32)> = candidates
        .iter()
        .map(|(id, features)| (*id, combiner.score(features)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(lexical: &[(usize, f32)], dense: &[(usize, f32)]) -> Scores {
        Scores {
            lexical: lexical.iter().map(|(id, s)| (*id, (*s, 0))).collect(),
            dense: vec![dense.iter().map(|(id, s)| (*id, (*s, 0))).collect()],
            query_words: 1,
        }
    }

    fn order(s: &Scores, fusion: Fusion) -> Vec<usize> {
        rank(s, fusion).iter().map(|r| r.0).collect()
    }

    #[test]
    fn weighted_fusion_lets_lexical_break_near_ties_only() {
        // Dense prefers 0 narrowly and 1 is far behind; lexical prefers 2 strongly.
        let s = scores(&[(2, 10.0), (1, 9.0)], &[(0, 0.80), (2, 0.79), (1, 0.40)]);
        let weighted = Fusion::Weighted {
            lexical_weight: 0.1,
        };
        assert_eq!(order(&s, weighted), [2, 0, 1]);
        // RRF counts the weak dense candidate 1's lexical rank as much as a dense one.
        assert_eq!(order(&s, Fusion::Rrf { k: 60.0 })[0], 2);
        assert_eq!(order(&s, Fusion::Dense), [0, 2, 1]);
    }
}
