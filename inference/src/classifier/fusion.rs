//! Fusing the lexical head with the embedding head: training the TF-IDF half, choosing its
//! weight on the validation split, and mixing the two heads' log-probabilities.

use serde::{Deserialize, Serialize};

use super::lexical::{Sparse, SparseHead, TfIdf};
use super::{FUSION_WEIGHTS, LEXICAL_L2_GRID, MIN_DF_FROM, TrainConfig, argmax, softmax};

/// The lexical half of a fused classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Lexical {
    pub(super) tfidf: TfIdf,
    pub(super) head: SparseHead,
    /// Its share of the fused log-probabilities.
    pub(super) weight: f32,
}

/// Log-softmax of `logits`.
pub(super) fn log_probabilities(mut logits: Vec<f32>) -> Vec<f32> {
    softmax(&mut logits);
    logits.iter().map(|p| p.max(1e-12).ln()).collect()
}

/// `(1 − weight) · dense + weight · lexical`, both log-probabilities.
pub(super) fn fuse(dense: &[f32], lexical: &[f32], weight: f32) -> Vec<f32> {
    dense
        .iter()
        .zip(lexical)
        .map(|(d, l)| (1.0 - weight) * d + weight * l)
        .collect()
}

impl Lexical {
    /// A TF-IDF vocabulary and head fitted on the `indices` of `texts`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn train(
        texts: &[String],
        indices: &[usize],
        targets: &dyn Fn(&[usize]) -> Vec<usize>,
        classes: usize,
        l2: f32,
        passes: usize,
        weight: f32,
        config: &TrainConfig,
    ) -> Self {
        let tfidf = fit_vocabulary(texts, indices);
        let vectors: Vec<Sparse> = indices
            .iter()
            .map(|&i| tfidf.transform(&texts[i]))
            .collect();
        let set: Vec<(&Sparse, usize)> = vectors.iter().zip(targets(indices)).collect();
        let mut head = SparseHead::new(tfidf.len(), classes);
        head.fit(&set, passes, l2, config.learning_rate, None);
        Self {
            tfidf,
            head,
            weight,
        }
    }
}

/// The vocabulary of the `indices` of `texts` (a term seen once is kept for small sets only).
fn fit_vocabulary(texts: &[String], indices: &[usize]) -> TfIdf {
    let chosen: Vec<&str> = indices.iter().map(|&i| texts[i].as_str()).collect();
    TfIdf::fit(&chosen, if chosen.len() >= MIN_DF_FROM { 2 } else { 1 })
}

/// The lexical head's L2 and passes, chosen on `validation` (early stopping on its
/// cross-entropy), with that head and its vocabulary (fitted on `fit_part` only).
pub(super) fn tune_lexical(
    texts: &[String],
    fit_part: &[usize],
    validation: &[usize],
    targets: &dyn Fn(&[usize]) -> Vec<usize>,
    classes: usize,
    config: &TrainConfig,
) -> (f32, usize, SparseHead, TfIdf) {
    let tfidf = fit_vocabulary(texts, fit_part);
    let fit_vectors: Vec<Sparse> = fit_part
        .iter()
        .map(|&i| tfidf.transform(&texts[i]))
        .collect();
    let validation_vectors: Vec<Sparse> = validation
        .iter()
        .map(|&i| tfidf.transform(&texts[i]))
        .collect();
    let fit_set: Vec<(&Sparse, usize)> = fit_vectors.iter().zip(targets(fit_part)).collect();
    let validation_set: Vec<(&Sparse, usize)> =
        validation_vectors.iter().zip(targets(validation)).collect();
    let mut best: Option<(f32, usize, f32, SparseHead)> = None;
    for l2 in LEXICAL_L2_GRID {
        let mut head = SparseHead::new(tfidf.len(), classes);
        let (passes, loss) = head.fit(
            &fit_set,
            config.epochs,
            l2,
            config.learning_rate,
            Some(&validation_set),
        );
        if best.as_ref().is_none_or(|b| loss < b.2) {
            best = Some((l2, passes, loss, head));
        }
    }
    let (l2, passes, _, head) = best.expect("the grid is not empty");
    (l2, passes, head, tfidf)
}

/// The fusion weight that classifies the validation examples best (the smaller weight on a
/// tie, so the lexical head must earn its share).
pub(super) fn best_weight(dense: &[Vec<f32>], lexical: &[Vec<f32>], truth: &[usize]) -> f32 {
    let mut best = (0.0f32, 0usize);
    for weight in FUSION_WEIGHTS {
        let right = dense
            .iter()
            .zip(lexical)
            .zip(truth)
            .filter(|((d, l), y)| argmax(&fuse(d, l, weight)) == **y)
            .count();
        if right > best.1 {
            best = (weight, right);
        }
    }
    best.0
}
