//! The classifier's lexical half: TF-IDF over word unigrams and bigrams, and a softmax head
//! trained on those sparse vectors. Fused with the embedding head (see the parent module), it
//! catches what a sentence embedding blurs: product names, error codes, a word that decides an
//! intent ("virtual card" against "card").
//!
//! Terms are lowercased runs of letters and digits (any script), so it reads every language
//! the training texts are in; a bigram is two neighbouring terms. Term frequencies are
//! sublinear (1 + ln tf), weighted by smoothed IDF and scaled to unit length, as
//! scikit-learn's `TfidfVectorizer(sublinear_tf=True)` does.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{CHECK_EVERY, softmax};

/// Most terms a vocabulary keeps (the most frequent ones).
const MAX_TERMS: usize = 50_000;

/// A sparse vector: (term index, value), indices ascending.
pub(crate) type Sparse = Vec<(u32, f32)>;

/// The unigrams and bigrams of `text`.
fn terms(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut out = words.clone();
    out.extend(
        words
            .windows(2)
            .map(|pair| format!("{} {}", pair[0], pair[1])),
    );
    out
}

/// A fitted TF-IDF vocabulary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TfIdf {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
}

impl TfIdf {
    /// The vocabulary of `texts`: terms in at least `min_df` of them (at most [`MAX_TERMS`],
    /// the most frequent), with smoothed IDF `ln((1 + n) / (1 + df)) + 1`.
    pub(crate) fn fit(texts: &[&str], min_df: usize) -> Self {
        let mut df: HashMap<String, usize> = HashMap::new();
        for text in texts {
            let mut seen = terms(text);
            seen.sort_unstable();
            seen.dedup();
            for term in seen {
                *df.entry(term).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = df.into_iter().filter(|(_, n)| *n >= min_df).collect();
        // Most frequent first, then by term, so the vocabulary is the same on every run.
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(MAX_TERMS);
        let n = texts.len() as f32;
        let idf = kept
            .iter()
            .map(|(_, df)| ((1.0 + n) / (1.0 + *df as f32)).ln() + 1.0)
            .collect();
        let vocabulary = kept
            .into_iter()
            .enumerate()
            .map(|(i, (term, _))| (term, i as u32))
            .collect();
        Self { vocabulary, idf }
    }

    /// Terms in the vocabulary.
    pub(crate) fn len(&self) -> usize {
        self.idf.len()
    }

    /// The unit-length TF-IDF vector of `text` (empty when it has no known term).
    pub(crate) fn transform(&self, text: &str) -> Sparse {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for term in terms(text) {
            if let Some(&index) = self.vocabulary.get(&term) {
                *counts.entry(index).or_default() += 1.0;
            }
        }
        let mut vector: Sparse = counts
            .into_iter()
            .map(|(i, tf)| (i, (1.0 + tf.ln()) * self.idf[i as usize]))
            .collect();
        vector.sort_unstable_by_key(|(i, _)| *i);
        let norm = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        vector
    }
}

/// A softmax head over sparse vectors: `features × classes` weights, feature-major, so a
/// sparse vector touches whole rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SparseHead {
    classes: usize,
    features: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl SparseHead {
    pub(crate) fn new(features: usize, classes: usize) -> Self {
        Self {
            classes,
            features,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        }
    }

    /// True when the weights fit the shape (a loaded file is checked with it).
    pub(crate) fn is_consistent(&self, features: usize, classes: usize) -> bool {
        self.features == features
            && self.classes == classes
            && self.weights.len() == features * classes
            && self.bias.len() == classes
    }

    pub(crate) fn logits(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let mut out = self.bias.clone();
        for &(j, v) in x {
            let row = &self.weights[j as usize * self.classes..][..self.classes];
            out.iter_mut().zip(row).for_each(|(o, w)| *o += w * v);
        }
        out
    }

    /// Full-batch Adam on the cross-entropy with an L2 penalty, as the dense head trains;
    /// with `validation`, early stopping on its cross-entropy. Returns the pass kept and its
    /// validation loss (infinite without validation).
    pub(crate) fn fit(
        &mut self,
        train: &[(&Sparse, usize)],
        epochs: usize,
        l2: f32,
        learning_rate: f32,
        validation: Option<&[(&Sparse, usize)]>,
    ) -> (usize, f32) {
        let (beta1, beta2, epsilon) = (0.9f32, 0.999f32, 1e-8f32);
        let n = train.len().max(1) as f32;
        let (mut mw, mut vw) = (
            vec![0.0f32; self.weights.len()],
            vec![0.0f32; self.weights.len()],
        );
        let (mut mb, mut vb) = (vec![0.0f32; self.classes], vec![0.0f32; self.classes]);
        let mut gw = vec![0.0f32; self.weights.len()];
        let mut gb = vec![0.0f32; self.classes];
        let mut best = (
            epochs,
            f32::INFINITY,
            self.weights.clone(),
            self.bias.clone(),
        );
        for epoch in 1..=epochs {
            gw.iter_mut()
                .zip(&self.weights)
                .for_each(|(g, w)| *g = l2 * w);
            gb.iter_mut().for_each(|g| *g = 0.0);
            for (x, y) in train {
                let mut p = self.logits(x);
                softmax(&mut p);
                p[*y] -= 1.0;
                for &(j, v) in x.iter() {
                    let row = &mut gw[j as usize * self.classes..][..self.classes];
                    row.iter_mut().zip(&p).for_each(|(g, d)| *g += d * v / n);
                }
                gb.iter_mut().zip(&p).for_each(|(g, d)| *g += d / n);
            }
            let (correction1, correction2) = (
                1.0 - beta1.powi(epoch as i32),
                1.0 - beta2.powi(epoch as i32),
            );
            let adam = |params: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
                for (((param, m), v), g) in params.iter_mut().zip(m).zip(v).zip(g) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *param -=
                        learning_rate * (*m / correction1) / ((*v / correction2).sqrt() + epsilon);
                }
            };
            adam(&mut self.weights, &mut mw, &mut vw, &gw);
            adam(&mut self.bias, &mut mb, &mut vb, &gb);
            if let Some(set) = validation
                && (epoch % CHECK_EVERY == 0 || epoch == epochs)
            {
                let loss = self.loss(set);
                if loss < best.1 {
                    best = (epoch, loss, self.weights.clone(), self.bias.clone());
                }
            }
        }
        if validation.is_some() {
            self.weights = best.2;
            self.bias = best.3;
            (best.0, best.1)
        } else {
            (epochs, f32::INFINITY)
        }
    }

    /// Mean cross-entropy on `set`.
    fn loss(&self, set: &[(&Sparse, usize)]) -> f32 {
        let total: f32 = set
            .iter()
            .map(|(x, y)| {
                let mut p = self.logits(x);
                softmax(&mut p);
                -p[*y].max(1e-12).ln()
            })
            .sum();
        total / set.len().max(1) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercased_words_and_their_bigrams_in_any_script() {
        assert_eq!(
            terms("Karte gesperrt! Fehlercode 05"),
            [
                "karte",
                "gesperrt",
                "fehlercode",
                "05",
                "karte gesperrt",
                "gesperrt fehlercode",
                "fehlercode 05"
            ]
        );
        assert_eq!(terms("  ¿Dónde?  "), ["dónde"]);
        assert!(terms("!!!").is_empty());
    }

    #[test]
    fn tf_idf_vectors_are_unit_length_and_weigh_rare_terms_up() {
        let texts = [
            "my card is blocked",
            "my card was stolen",
            "my transfer is late",
        ];
        let tfidf = TfIdf::fit(&texts, 1);
        let vector = tfidf.transform("my card was stolen");
        let norm: f32 = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        let weight = |term: &str| {
            let index = tfidf.vocabulary[term];
            vector
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, v)| *v)
                .unwrap()
        };
        // "my" is in every text, "stolen" in one.
        assert!(weight("stolen") > weight("my"));
        assert!(tfidf.transform("nothing known here").is_empty());
        // min_df drops terms seen once.
        assert_eq!(TfIdf::fit(&texts, 2).len(), 4, "my, card, is, \"my card\"");
    }

    #[test]
    fn the_sparse_head_learns_which_word_decides() {
        let texts = [
            ("card blocked today", 0),
            ("my card is blocked", 0),
            ("blocked card again", 0),
            ("transfer late today", 1),
            ("my transfer is late", 1),
            ("late transfer again", 1),
        ];
        let tfidf = TfIdf::fit(&texts.map(|(t, _)| t), 1);
        let vectors: Vec<Sparse> = texts.iter().map(|(t, _)| tfidf.transform(t)).collect();
        let set: Vec<(&Sparse, usize)> =
            vectors.iter().zip(texts.iter().map(|(_, y)| *y)).collect();
        let mut head = SparseHead::new(tfidf.len(), 2);
        head.fit(&set, 200, 0.0, 0.05, None);
        for (text, label) in [("is my card blocked", 0usize), ("the transfer is late", 1)] {
            let logits = head.logits(&tfidf.transform(text));
            let best = if logits[0] > logits[1] { 0 } else { 1 };
            assert_eq!(best, label, "{text}: {logits:?}");
        }
    }
}
