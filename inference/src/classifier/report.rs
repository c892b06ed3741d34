//! How a classifier did on examples it was not trained on: accuracy, macro-F1, per-label
//! precision, recall and F1, beside the majority-class baseline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Held-out evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Examples trained on.
    pub trained_on: usize,
    /// Examples held out.
    pub held_out: usize,
    /// Share of held-out examples classified right.
    pub accuracy: f32,
    /// Mean of the per-label F1 scores.
    pub macro_f1: f32,
    /// Accuracy of always answering the most common training label.
    pub majority_baseline: f32,
    /// The L2 penalty trained with (chosen, when tuned).
    #[serde(default)]
    pub l2: f32,
    /// The passes trained (chosen by early stopping, when tuned).
    #[serde(default)]
    pub epochs: usize,
    /// Per label: precision, recall, F1, support.
    pub per_label: BTreeMap<String, LabelScore>,
    /// For a classifier fusing a lexical head: each half alone on the same examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<Fusion>,
}

/// A fused classifier's halves, each alone on the held-out part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// The lexical head's share of the fused log-probabilities (chosen on validation).
    pub lexical_weight: f32,
    /// Terms (word unigrams and bigrams) in the TF-IDF vocabulary.
    pub vocabulary: usize,
    /// Accuracy of the embedding head alone.
    pub embedding_accuracy: f32,
    /// Accuracy of the TF-IDF head alone.
    pub lexical_accuracy: f32,
}

/// Scores of one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    /// Precision.
    pub precision: f32,
    /// Recall.
    pub recall: f32,
    /// F1.
    pub f1: f32,
    /// Held-out examples of the label.
    pub support: usize,
}

/// Accuracy, macro-F1 and per-label scores of `predicted` against `truth` (positions in
/// `labels`), with the accuracy of always answering `majority`.
pub(crate) fn score(
    labels: &[String],
    truth: &[usize],
    predicted: &[usize],
    majority: usize,
) -> Report {
    let classes = labels.len();
    let (mut tp, mut fp, mut fn_, mut support) = (
        vec![0usize; classes],
        vec![0usize; classes],
        vec![0usize; classes],
        vec![0usize; classes],
    );
    let mut correct = 0;
    let mut baseline = 0;
    for (&y, &p) in truth.iter().zip(predicted) {
        support[y] += 1;
        if p == y {
            correct += 1;
            tp[y] += 1;
        } else {
            fp[p] += 1;
            fn_[y] += 1;
        }
        if majority == y {
            baseline += 1;
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let mut per_label = BTreeMap::new();
    let mut f1_sum = 0.0;
    for c in 0..classes {
        let precision = share(tp[c], tp[c] + fp[c]);
        let recall = share(tp[c], tp[c] + fn_[c]);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        f1_sum += f1;
        per_label.insert(
            labels[c].clone(),
            LabelScore {
                precision,
                recall,
                f1,
                support: support[c],
            },
        );
    }
    Report {
        trained_on: 0,
        held_out: truth.len(),
        accuracy: share(correct, truth.len()),
        macro_f1: if classes == 0 {
            0.0
        } else {
            f1_sum / classes as f32
        },
        majority_baseline: share(baseline, truth.len()),
        l2: 0.0,
        epochs: 0,
        per_label,
        fusion: None,
    }
}
