//! A text classifier: a linear softmax head trained on sentence embeddings.
//!
//! Training is multinomial logistic regression with L2 regularisation, full-batch, with Adam
//! (matrix products through `ndarray`); deterministic for a seed. The labelled set is split
//! (stratified, seeded) into training and held-out parts; the report gives held-out accuracy,
//! macro-F1 and the majority-class baseline. With `tune` (the default), the L2 penalty and the
//! number of passes are chosen on a validation fifth of the training part (early stopping on
//! its cross-entropy), never on the held-out part; `refit_all` then trains the served head on
//! every example with those settings, the report staying the held-out one.
//! Trained from texts (not only vectors), a TF-IDF head is fused in (`fusion`, `lexical`):
//! its weight is chosen on the same validation fifth, and it is left out when it does not help
//! there. `data` reads labelled CSV files and makes the splits; `report` scores predictions.
//! A prediction carries the softmax probability of every label, so callers can abstain below a
//! confidence they choose. A saved classifier names the embedding model it was trained on and
//! refuses to load against another.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Embeddings, InferenceError};

mod data;
mod fit;
mod fusion;
mod lexical;
mod report;

pub(crate) use data::{groups_by_label, shuffle, split, validation_split};
pub use data::{read_labelled_csv, read_labelled_csv_column};
use fusion::{Lexical, best_weight, fuse, log_probabilities, tune_lexical};
use report::score;
pub use report::{LabelScore, Report};

/// The L2 penalties tuning tries.
const L2_GRID: [f32; 4] = [0.0, 1e-5, 1e-4, 1e-3];
/// Share of each label of the training part that tuning validates on.
pub(crate) const VALIDATION_SHARE: f32 = 0.2;
/// Passes between two looks at the validation loss.
const CHECK_EVERY: usize = 10;
/// The L2 penalties tuning tries for the lexical head.
const LEXICAL_L2_GRID: [f32; 2] = [1e-5, 1e-4];
/// The lexical head's share of the fused score tuning tries (0: the embedding head alone).
const FUSION_WEIGHTS: [f32; 9] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Texts at which a term must be in two of them to enter the lexical vocabulary.
const MIN_DF_FROM: usize = 1000;

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Share of each label held out for evaluation (0 to 0.5).
    pub holdout: f32,
    /// Passes over the training set (with `tune`, the most it may choose).
    pub epochs: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights (with `tune`, chosen instead).
    pub l2: f32,
    /// Seed of the split.
    pub seed: u64,
    /// Choose the L2 penalty and the passes on a validation split of the training part.
    pub tune: bool,
    /// After the held-out report, train the head on every example (held-out ones too) with
    /// the settings found: the served head learns from everything, the report stays honest.
    pub refit_all: bool,
    /// When training from texts: fuse a TF-IDF head with the embedding head, its weight
    /// chosen on the validation split (0 when it does not help there).
    pub lexical: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            holdout: 0.25,
            epochs: 1000,
            learning_rate: 0.05,
            l2: 1e-4,
            seed: 42,
            tune: true,
            refit_all: false,
            lexical: true,
        }
    }
}

/// A trained classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Classifier {
    /// Embedding model it was trained on.
    pub embedding_model: String,
    /// Vector length.
    pub dimension: usize,
    /// The labels, in weight-row order.
    pub labels: Vec<String>,
    /// `labels × dimension`, row-major.
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    /// The TF-IDF head fused with the embedding head, when trained from texts with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lexical: Option<Lexical>,
    /// How it did on the held-out part when trained.
    pub report: Report,
}

pub(crate) fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// One prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// Its probability.
    pub confidence: f32,
    /// Every label with its probability, most probable first.
    pub scores: Vec<(String, f32)>,
}

pub(crate) fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

impl Classifier {
    /// Embeds `examples` with `embedder`, trains on a stratified split and evaluates on the rest.
    pub async fn train(
        embedder: &dyn Embeddings,
        examples: &[(String, String)],
        config: &TrainConfig,
    ) -> Result<Self, InferenceError> {
        let texts: Vec<String> = examples.iter().map(|(t, _)| t.clone()).collect();
        let vectors = embedder.embed(texts.clone()).await?;
        let labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
        let (name, dimension) = (embedder.info().name.clone(), embedder.info().dimension);
        let config = config.clone();
        // Minutes of arithmetic on a large set: off the async runtime.
        tokio::task::spawn_blocking(move || {
            Self::train_inner(
                &name,
                dimension,
                &vectors,
                config.lexical.then_some(texts.as_slice()),
                &labels,
                &config,
            )
        })
        .await
        .map_err(|e| InferenceError::BadInput(format!("training stopped: {e}")))?
    }

    /// [`Classifier::train`] on texts embedded already (one vector and one label per
    /// example), so several heads can be trained on one embedding pass.
    pub fn train_on_vectors(
        embedding_model: &str,
        dimension: usize,
        vectors: &[Vec<f32>],
        examples: &[String],
        config: &TrainConfig,
    ) -> Result<Self, InferenceError> {
        Self::train_inner(embedding_model, dimension, vectors, None, examples, config)
    }

    /// Trains the embedding head, and with `texts` the lexical head and their fusion.
    pub(crate) fn train_inner(
        embedding_model: &str,
        dimension: usize,
        vectors: &[Vec<f32>],
        texts: Option<&[String]>,
        examples: &[String],
        config: &TrainConfig,
    ) -> Result<Self, InferenceError> {
        if vectors.len() != examples.len() || texts.is_some_and(|t| t.len() != examples.len()) {
            return Err(InferenceError::BadInput(
                "one vector per labelled example".into(),
            ));
        }
        if let Some(bad) = vectors.iter().find(|v| v.len() != dimension) {
            return Err(InferenceError::BadInput(format!(
                "vectors of {} values, expected {dimension}",
                bad.len()
            )));
        }
        if !(0.0..=0.5).contains(&config.holdout) {
            return Err(InferenceError::BadInput(
                "holdout must be between 0 and 0.5".into(),
            ));
        }
        let (labels, groups) = groups_by_label(examples);
        if labels.len() < 2 {
            return Err(InferenceError::BadInput(
                "training needs at least two labels".into(),
            ));
        }
        let (train, test) = split(&groups, config.holdout, config.seed);
        let label_of = |i: usize| {
            labels
                .iter()
                .position(|l| *l == examples[i])
                .expect("every label was collected")
        };
        let set = |indices: &[usize]| -> Vec<(&[f32], usize)> {
            indices
                .iter()
                .map(|&i| (vectors[i].as_slice(), label_of(i)))
                .collect()
        };
        let mut classifier = Self {
            embedding_model: embedding_model.to_owned(),
            dimension,
            labels: labels.clone(),
            weights: vec![0.0; labels.len() * dimension],
            bias: vec![0.0; labels.len()],
            lexical: None,
            report: Report {
                trained_on: train.len(),
                held_out: test.len(),
                accuracy: 0.0,
                macro_f1: 0.0,
                majority_baseline: 0.0,
                l2: config.l2,
                epochs: config.epochs,
                per_label: BTreeMap::new(),
                fusion: None,
            },
        };
        let targets =
            |indices: &[usize]| -> Vec<usize> { indices.iter().map(|&i| label_of(i)).collect() };
        // The lexical settings: (L2, passes, fusion weight).
        let mut lexical_settings = texts.map(|_| (config.l2, config.epochs, 0.5f32));
        let (l2, epochs) = if config.tune {
            // The validation fifth comes from the training part only.
            let (fit_part, validation) =
                validation_split(&groups, &train, VALIDATION_SHARE, config.seed);
            let (fit_set, validation_set) = (set(&fit_part), set(&validation));
            let mut best = (config.l2, config.epochs, f32::INFINITY);
            for l2 in L2_GRID {
                classifier.reset();
                let (epochs, loss) = classifier.fit(
                    &fit_set,
                    config.epochs,
                    l2,
                    config.learning_rate,
                    Some(&validation_set),
                );
                if loss < best.2 {
                    best = (l2, epochs, loss);
                }
            }
            if let Some(texts) = texts {
                // The embedding head as tuned, its validation log-probabilities beside the
                // lexical head's, and the weight that classifies the validation fifth best.
                classifier.reset();
                classifier.fit(&fit_set, best.1, best.0, config.learning_rate, None);
                let dense: Vec<Vec<f32>> = validation_set
                    .iter()
                    .map(|(x, _)| log_probabilities(classifier.logits(x)))
                    .collect();
                let (l2, passes, head, tfidf) = tune_lexical(
                    texts,
                    &fit_part,
                    &validation,
                    &targets,
                    labels.len(),
                    config,
                );
                let lexical: Vec<Vec<f32>> = validation
                    .iter()
                    .map(|&i| log_probabilities(head.logits(&tfidf.transform(&texts[i]))))
                    .collect();
                let truth = targets(&validation);
                let weight = best_weight(&dense, &lexical, &truth);
                lexical_settings = Some((l2, passes, weight));
            }
            (best.0, best.1)
        } else {
            (config.l2, config.epochs)
        };
        let lexical_settings = lexical_settings.filter(|(_, _, weight)| *weight > 0.0);
        // Both heads, with the settings found, on `indices` (the training part, then all).
        let fit_heads = |classifier: &mut Self, indices: &[usize]| {
            classifier.reset();
            classifier.fit(&set(indices), epochs, l2, config.learning_rate, None);
            if let (Some(texts), Some((l2, passes, weight))) = (texts, lexical_settings) {
                classifier.lexical = Some(Lexical::train(
                    texts,
                    indices,
                    &targets,
                    labels.len(),
                    l2,
                    passes,
                    weight,
                    config,
                ));
            }
        };
        fit_heads(&mut classifier, &train);
        let test_texts: Option<Vec<&str>> =
            texts.map(|t| test.iter().map(|&i| t[i].as_str()).collect());
        let mut report = classifier.evaluate(&set(&train), &set(&test), test_texts.as_deref());
        report.l2 = l2;
        report.epochs = epochs;
        if config.refit_all && !test.is_empty() {
            let everything: Vec<usize> = (0..examples.len()).collect();
            fit_heads(&mut classifier, &everything);
        }
        classifier.report = report;
        Ok(classifier)
    }

    /// Zero weights (and no lexical head).
    fn reset(&mut self) {
        self.weights.iter_mut().for_each(|w| *w = 0.0);
        self.bias.iter_mut().for_each(|b| *b = 0.0);
        self.lexical = None;
    }

    fn logits(&self, vector: &[f32]) -> Vec<f32> {
        self.weights
            .chunks_exact(self.dimension)
            .zip(&self.bias)
            .map(|(row, b)| row.iter().zip(vector).map(|(w, x)| w * x).sum::<f32>() + b)
            .collect()
    }

    fn evaluate(
        &self,
        train: &[(&[f32], usize)],
        test: &[(&[f32], usize)],
        texts: Option<&[&str]>,
    ) -> Report {
        let mut counts = vec![0usize; self.labels.len()];
        for (_, y) in train {
            counts[*y] += 1;
        }
        let majority = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map_or(0, |(i, _)| i);
        let truth: Vec<usize> = test.iter().map(|(_, y)| *y).collect();
        let text_of = |k: usize| texts.and_then(|t| t.get(k).copied());
        let predicted: Vec<usize> = test
            .iter()
            .enumerate()
            .map(|(k, (x, _))| self.predict_index(text_of(k), x))
            .collect();
        let mut report = score(&self.labels, &truth, &predicted, majority);
        report.trained_on = train.len();
        if let Some(texts) = texts {
            let vectors: Vec<&[f32]> = test.iter().map(|(x, _)| *x).collect();
            report.fusion = self.halves(&vectors, texts, &truth);
        }
        report
    }

    /// For a fused classifier: each half alone on the same examples, beside the fused figure.
    fn halves(
        &self,
        vectors: &[&[f32]],
        texts: &[&str],
        truth: &[usize],
    ) -> Option<report::Fusion> {
        let lexical = self.lexical.as_ref()?;
        if truth.is_empty() {
            return None;
        }
        let accuracy = |predicted: Vec<usize>| {
            let right = predicted.iter().zip(truth).filter(|(p, y)| p == y).count();
            right as f32 / truth.len() as f32
        };
        Some(report::Fusion {
            lexical_weight: lexical.weight,
            vocabulary: lexical.tfidf.len(),
            embedding_accuracy: accuracy(vectors.iter().map(|x| argmax(&self.logits(x))).collect()),
            lexical_accuracy: accuracy(
                texts
                    .iter()
                    .map(|t| argmax(&lexical.head.logits(&lexical.tfidf.transform(t))))
                    .collect(),
            ),
        })
    }

    /// The best label of `vector` (fused with `text`'s lexical score when both exist).
    fn predict_index(&self, text: Option<&str>, vector: &[f32]) -> usize {
        argmax(&self.scores(text, vector))
    }

    /// Log-probabilities (fused) or logits (embedding head alone): the order is what counts.
    fn scores(&self, text: Option<&str>, vector: &[f32]) -> Vec<f32> {
        match (&self.lexical, text) {
            (Some(lexical), Some(text)) => fuse(
                &log_probabilities(self.logits(vector)),
                &log_probabilities(lexical.head.logits(&lexical.tfidf.transform(text))),
                lexical.weight,
            ),
            _ => self.logits(vector),
        }
    }

    /// True when predictions use the text too (a lexical head is fused in).
    pub fn is_fused(&self) -> bool {
        self.lexical.is_some()
    }

    /// The labels of an embedded text with their probabilities, from the embedding head
    /// alone (see [`Classifier::predict_text`] for a fused classifier).
    pub fn predict(&self, vector: &[f32]) -> Result<Prediction, InferenceError> {
        self.predict_inner(None, vector)
    }

    /// The labels of `text`, embedded as `vector`, with their probabilities: the fused
    /// score when the classifier has a lexical head, else the embedding head's.
    pub fn predict_text(&self, text: &str, vector: &[f32]) -> Result<Prediction, InferenceError> {
        self.predict_inner(Some(text), vector)
    }

    fn predict_inner(
        &self,
        text: Option<&str>,
        vector: &[f32],
    ) -> Result<Prediction, InferenceError> {
        if vector.len() != self.dimension {
            return Err(InferenceError::BadInput(format!(
                "a vector of {} for a classifier of {}",
                vector.len(),
                self.dimension
            )));
        }
        let mut probabilities = self.scores(text, vector);
        softmax(&mut probabilities);
        let mut scores: Vec<(String, f32)> =
            self.labels.iter().cloned().zip(probabilities).collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(Prediction {
            label: scores[0].0.clone(),
            confidence: scores[0].1,
            scores,
        })
    }

    /// Embeds labelled `examples` and scores the classifier on them: accuracy, macro-F1 (over
    /// every label of the classifier or the examples; a label the classifier never learned
    /// scores 0) and per label. The majority baseline here is the most common label of
    /// `examples` itself (an optimistic baseline: it knows the test distribution).
    pub async fn evaluate_examples(
        &self,
        embedder: &dyn Embeddings,
        examples: &[(String, String)],
    ) -> Result<Report, InferenceError> {
        self.check_embedder(embedder)?;
        if examples.is_empty() {
            return Err(InferenceError::BadInput(
                "no examples to evaluate on".into(),
            ));
        }
        let vectors = embedder
            .embed(examples.iter().map(|(text, _)| text.clone()).collect())
            .await?;
        Ok(self.evaluate_vectors(&vectors, examples))
    }

    /// [`Classifier::evaluate_examples`] on the examples' vectors (one per example).
    pub(crate) fn evaluate_vectors(
        &self,
        vectors: &[Vec<f32>],
        examples: &[(String, String)],
    ) -> Report {
        // Labels the classifier does not know get positions after its own.
        let mut names = self.labels.clone();
        let mut truth = Vec::with_capacity(examples.len());
        for (_, label) in examples {
            let position = match names.iter().position(|l| l == label) {
                Some(position) => position,
                None => {
                    names.push(label.clone());
                    names.len() - 1
                }
            };
            truth.push(position);
        }
        let mut counts = vec![0usize; names.len()];
        for &y in &truth {
            counts[y] += 1;
        }
        let majority = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map_or(0, |(i, _)| i);
        let predicted: Vec<usize> = vectors
            .iter()
            .zip(examples)
            .map(|(v, (text, _))| self.predict_index(Some(text), v))
            .collect();
        let mut report = score(&names, &truth, &predicted, majority);
        report.trained_on = self.report.trained_on;
        let vectors: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let texts: Vec<&str> = examples.iter().map(|(text, _)| text.as_str()).collect();
        report.fusion = self.halves(&vectors, &texts, &truth);
        report
    }

    /// Embeds `text` and predicts its label.
    pub async fn classify(
        &self,
        embedder: &dyn Embeddings,
        text: &str,
    ) -> Result<Prediction, InferenceError> {
        self.check_embedder(embedder)?;
        let vector = embedder
            .embed(vec![text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| InferenceError::BadInput("the model returned no vector".into()))?;
        self.predict_text(text, &vector)
    }

    /// Whether vectors of `embedder` are what this classifier was trained on.
    pub fn check_embedder(&self, embedder: &dyn Embeddings) -> Result<(), InferenceError> {
        if embedder.info().name != self.embedding_model
            || embedder.info().dimension != self.dimension
        {
            return Err(InferenceError::BadInput(format!(
                "this classifier was trained on embeddings of `{}` ({}), not `{}` ({})",
                self.embedding_model,
                self.dimension,
                embedder.info().name,
                embedder.info().dimension
            )));
        }
        Ok(())
    }

    /// Writes the classifier as JSON.
    pub fn save(&self, path: &Path) -> Result<(), InferenceError> {
        let text = serde_json::to_string(self).expect("a classifier serialises");
        std::fs::write(path, text).map_err(|e| {
            InferenceError::BadInput(format!("failed to write {}: {e}", path.display()))
        })
    }

    /// Reads a classifier saved with [`save`](Self::save), checking its shape.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let bad =
            |reason: String| InferenceError::BadInput(format!("{}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let classifier: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if classifier.labels.is_empty()
            || classifier.weights.len() != classifier.labels.len() * classifier.dimension
            || classifier.bias.len() != classifier.labels.len()
            || classifier.lexical.as_ref().is_some_and(|l| {
                !l.head.is_consistent(l.tfidf.len(), classifier.labels.len())
                    || !(0.0..=1.0).contains(&l.weight)
            })
        {
            return Err(bad("weights do not fit the labels and dimension".into()));
        }
        Ok(classifier)
    }
}

#[cfg(test)]
mod tests;
