//! Fine-tuning the multilingual encoder on a labelled set (`finpulse train encoder`).
//!
//! The classifier's heads sit on frozen sentence vectors. This module changes the encoder
//! itself for a labelled set, with candle's autograd on the CPU, and writes the result as an
//! ONNX file served exactly like the original:
//!
//! 1. `weights` reads the converted e5 graph's initializers; `bert` is the same computation in
//!    candle, its layers trainable, its embeddings frozen.
//! 2. Linear probe, then fine-tune (LP-FT): a softmax head is first trained on the frozen
//!    vectors (the classifier's own training, tuned on a validation fifth), then encoder and
//!    head are trained together with AdamW (linear warm-up and decay, dropout), a few epochs.
//!    Starting from a trained head keeps the first steps from wrecking the encoder's features.
//! 3. Early stopping: after each epoch the validation fifth (of the training part, never the
//!    held-out one) is scored; the best epoch's weights are kept, epoch 0 (no change) included,
//!    so fine-tuning that does not pay leaves the encoder as it was.
//! 4. The report is the classifier's, side by side: the full classifier training (embedding
//!    head, TF-IDF fusion, tuning) on frozen vectors and on tuned ones, the same split.
//! 5. `weights::rewrite` writes the tuned layers into a copy of the ONNX file.

mod bert;
mod weights;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use tokenizers::Tokenizer;

use crate::InferenceError;
use crate::classifier::{
    Classifier, Report, TrainConfig, VALIDATION_SHARE, groups_by_label, shuffle, split,
    validation_split,
};
use crate::embedder::load_tokenizer;
use bert::{Encoder, candle_error};

/// Fine-tuning settings.
#[derive(Debug, Clone)]
pub struct TuneConfig {
    /// Share of each label held out for the report (without a test set).
    pub holdout: f32,
    /// Seed of the splits and the batch order.
    pub seed: u64,
    /// Most passes over the training part (early stopping keeps the best).
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// AdamW step size of the encoder's layers at its peak.
    pub learning_rate: f64,
    /// AdamW step size of the classification head.
    pub head_learning_rate: f64,
    /// Dropout on every sub-layer's output while training.
    pub dropout: f32,
    /// Keep the epoch that scores best on validation (epoch 0, the encoder as it was,
    /// included): early stopping. Off, the last epoch's weights are kept whatever they score.
    pub keep_best: bool,
}

impl Default for TuneConfig {
    fn default() -> Self {
        Self {
            holdout: 0.25,
            seed: 42,
            epochs: 4,
            batch: 16,
            learning_rate: 3e-5,
            head_learning_rate: 1e-3,
            dropout: 0.1,
            keep_best: true,
        }
    }
}

/// Where training is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The epoch (from 1).
    pub epoch: usize,
    /// Steps done in all.
    pub step: usize,
    /// Steps in all.
    pub steps: usize,
    /// The last batch's cross-entropy.
    pub loss: f32,
    /// At the end of an epoch: its validation score.
    pub validation: Option<EpochScore>,
}

/// One epoch's validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochScore {
    /// 0 is the encoder as it was, with the probed head.
    pub epoch: usize,
    /// Mean cross-entropy on the validation fifth.
    pub loss: f32,
    /// Accuracy on the validation fifth.
    pub accuracy: f32,
}

/// What fine-tuning did.
#[derive(Debug, Clone)]
pub struct TuneReport {
    /// The classifier trained on the frozen encoder's vectors, on the held-out part (or test).
    pub frozen: Report,
    /// The same training on the tuned encoder's vectors, on the same examples.
    pub tuned: Report,
    /// Validation after every epoch, epoch 0 first.
    pub epochs: Vec<EpochScore>,
    /// The epoch whose weights were kept (0: none paid, the encoder is unchanged).
    pub kept_epoch: usize,
    /// Examples the encoder was trained on, and validated on.
    pub fitted_on: usize,
    /// Examples of the validation fifth.
    pub validated_on: usize,
}

/// The encoder of an ONNX file, trainable: load it, fine-tune it, write it back.
pub struct TrainableEncoder {
    encoder: Encoder,
    tokenizer: Tokenizer,
    /// The file it was read from, rewritten with the trained weights by `to_onnx`.
    file: Vec<u8>,
}

impl TrainableEncoder {
    /// Reads `model` (an ONNX file of the graph `scripts/convert-e5.py` writes) and its
    /// `tokenizer`; texts are cut at `max_length` tokens.
    pub fn load(model: &Path, tokenizer: &Path, max_length: usize) -> Result<Self, InferenceError> {
        let load_error = |path: &Path, reason: String| InferenceError::Load {
            model: path.display().to_string(),
            reason,
        };
        let file = std::fs::read(model).map_err(|e| load_error(model, e.to_string()))?;
        let (initializers, epsilon) = weights::read(&file)?;
        let encoder = Encoder::new(&initializers, epsilon.unwrap_or(1e-12))?;
        let loaded = load_tokenizer(tokenizer, max_length).map_err(|e| load_error(tokenizer, e))?;
        Ok(Self {
            encoder,
            tokenizer: loaded,
            file,
        })
    }

    /// Unit sentence vectors of `texts` (mean-pooled, L2-normalised, as the served model's).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, InferenceError> {
        let data = Data {
            texts: texts.to_vec(),
            targets: Vec::new(),
            tokenizer: &self.tokenizer,
        };
        let indices: Vec<usize> = (0..texts.len()).collect();
        data.vectors(&self.encoder, &indices)
    }

    /// The ONNX file it was read from, with the layers' current weights.
    pub fn to_onnx(&self) -> Result<Vec<u8>, InferenceError> {
        weights::rewrite(&self.file, &self.encoder.values()?)
    }
}

/// The texts, their labels, and the tokenizer as training uses it.
struct Data<'a> {
    texts: Vec<&'a str>,
    targets: Vec<u32>,
    tokenizer: &'a Tokenizer,
}

impl Data<'_> {
    /// Padded token ids and the attention mask of `indices`' texts.
    fn batch(
        &self,
        encoder: &Encoder,
        indices: &[usize],
    ) -> Result<(Vec<Vec<u32>>, Tensor), InferenceError> {
        let texts: Vec<&str> = indices.iter().map(|&i| self.texts[i]).collect();
        let encodings = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| InferenceError::BadInput(format!("failed to tokenize: {e}")))?;
        let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
        let length = ids.first().map_or(0, Vec::len);
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().iter().copied())
            .collect();
        let mask = Tensor::from_vec(mask, (indices.len(), length), encoder.device())
            .map_err(candle_error)?;
        Ok((ids, mask))
    }

    /// Unit sentence vectors of `indices`' texts, without dropout.
    fn vectors(
        &self,
        encoder: &Encoder,
        indices: &[usize],
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let mut out = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(32) {
            let (ids, mask) = self.batch(encoder, chunk)?;
            let vectors = encoder.embed(&ids, &mask, None)?;
            out.extend(vectors.to_vec2::<f32>().map_err(candle_error)?);
        }
        Ok(out)
    }
}

/// The classification head trained with the encoder: `[hidden, labels]` and `[labels]`.
struct Head {
    weights: Var,
    bias: Var,
}

impl Head {
    /// The probed classifier's head as candle variables.
    fn from_classifier(classifier: &Classifier, encoder: &Encoder) -> Result<Self, InferenceError> {
        let (labels, hidden) = (classifier.labels.len(), encoder.hidden());
        let weights = Tensor::from_vec(
            classifier.weights.clone(),
            (labels, hidden),
            encoder.device(),
        )
        .and_then(|w| w.t()?.contiguous())
        .and_then(|w| Var::from_tensor(&w))
        .map_err(candle_error)?;
        let bias = Tensor::from_vec(classifier.bias.clone(), labels, encoder.device())
            .and_then(|b| Var::from_tensor(&b))
            .map_err(candle_error)?;
        Ok(Self { weights, bias })
    }

    fn logits(&self, vectors: &Tensor) -> candle_core::Result<Tensor> {
        vectors
            .matmul(self.weights.as_tensor())?
            .broadcast_add(self.bias.as_tensor())
    }

    fn snapshot(&self) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.weights.as_tensor().copy()?,
            self.bias.as_tensor().copy()?,
        ))
    }

    fn restore(&self, (weights, bias): &(Tensor, Tensor)) -> candle_core::Result<()> {
        self.weights.set(weights)?;
        self.bias.set(bias)
    }
}

/// Mean cross-entropy and accuracy of `head` on `indices`.
fn score(
    data: &Data<'_>,
    encoder: &Encoder,
    head: &Head,
    indices: &[usize],
    epoch: usize,
) -> Result<EpochScore, InferenceError> {
    if indices.is_empty() {
        return Ok(EpochScore {
            epoch,
            loss: 0.0,
            accuracy: 0.0,
        });
    }
    let (mut loss, mut right) = (0.0f32, 0usize);
    for chunk in indices.chunks(32) {
        let (ids, mask) = data.batch(encoder, chunk)?;
        let vectors = encoder.embed(&ids, &mask, None)?;
        let targets: Vec<u32> = chunk.iter().map(|&i| data.targets[i]).collect();
        let logits = head.logits(&vectors).map_err(candle_error)?;
        let target_tensor = Tensor::from_vec(targets.clone(), chunk.len(), encoder.device())
            .map_err(candle_error)?;
        let batch_loss = candle_nn::loss::cross_entropy(&logits, &target_tensor)
            .and_then(|l| l.to_scalar::<f32>())
            .map_err(candle_error)?;
        loss += batch_loss * chunk.len() as f32;
        let predicted = logits
            .argmax(1)
            .and_then(|p| p.to_vec1::<u32>())
            .map_err(candle_error)?;
        right += predicted
            .iter()
            .zip(&targets)
            .filter(|(p, y)| p == y)
            .count();
    }
    Ok(EpochScore {
        epoch,
        loss: loss / indices.len() as f32,
        accuracy: right as f32 / indices.len() as f32,
    })
}

/// Fine-tunes `trainable` on `examples` (`text`, `label`). Without `test`, a stratified
/// `holdout` share is kept out and the report is on it; with `test`, every example trains and
/// the report is on `test`. Blocking: minutes of arithmetic; run it off the async runtime.
pub fn fine_tune(
    trainable: &mut TrainableEncoder,
    examples: &[(String, String)],
    test: Option<&[(String, String)]>,
    config: &TuneConfig,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<TuneReport, InferenceError> {
    if config.epochs == 0 || config.batch == 0 {
        return Err(InferenceError::BadInput(
            "epochs and batch must be positive".into(),
        ));
    }
    let encoder = &trainable.encoder;
    let labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
    let (names, groups) = groups_by_label(&labels);
    if names.len() < 2 {
        return Err(InferenceError::BadInput(
            "fine-tuning needs at least two labels".into(),
        ));
    }
    let train: Vec<usize> = match test {
        Some(_) => (0..examples.len()).collect(),
        None => split(&groups, config.holdout, config.seed).0,
    };
    let (fit, validation) = validation_split(&groups, &train, VALIDATION_SHARE, config.seed);
    let data = Data {
        texts: examples.iter().map(|(t, _)| t.as_str()).collect(),
        targets: labels
            .iter()
            .map(|l| {
                names
                    .iter()
                    .position(|n| n == l)
                    .expect("every label is named") as u32
            })
            .collect(),
        tokenizer: &trainable.tokenizer,
    };
    let everything: Vec<usize> = (0..examples.len()).collect();
    let frozen_vectors = data.vectors(encoder, &everything)?;

    // Linear probe: the classifier's own head training on the fitting part's frozen vectors.
    let probe_config = TrainConfig {
        holdout: 0.0,
        lexical: false,
        seed: config.seed,
        ..TrainConfig::default()
    };
    let fit_vectors: Vec<Vec<f32>> = fit.iter().map(|&i| frozen_vectors[i].clone()).collect();
    let fit_labels: Vec<String> = fit.iter().map(|&i| labels[i].clone()).collect();
    let probe = Classifier::train_on_vectors(
        "probe",
        encoder.hidden(),
        &fit_vectors,
        &fit_labels,
        &probe_config,
    )?;
    if probe.labels != names {
        return Err(InferenceError::BadInput(
            "every label needs examples in the fitting part: add examples of the rarest".into(),
        ));
    }
    let head = Head::from_classifier(&probe, encoder)?;

    let mut encoder_optimizer = AdamW::new(
        encoder.variables(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 0.01,
            ..ParamsAdamW::default()
        },
    )
    .map_err(candle_error)?;
    let mut head_optimizer = AdamW::new(
        vec![head.weights.clone(), head.bias.clone()],
        ParamsAdamW {
            lr: config.head_learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
    .map_err(candle_error)?;
    let per_epoch = fit.len().div_ceil(config.batch);
    let steps = per_epoch * config.epochs;
    let warm_up = (steps / 10).max(1);
    let mut scores = vec![score(&data, encoder, &head, &validation, 0)?];
    let original = encoder.values()?;
    let mut best: (EpochScore, HashMap<String, Vec<f32>>, (Tensor, Tensor)) = (
        scores[0],
        original.clone(),
        head.snapshot().map_err(candle_error)?,
    );
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let mut order = fit.clone();
        shuffle(&mut order, config.seed.wrapping_add(epoch as u64));
        for chunk in order.chunks(config.batch) {
            step += 1;
            // Linear warm-up over the first tenth of the steps, then linear decay to zero.
            let rate = if step <= warm_up {
                step as f64 / warm_up as f64
            } else {
                (steps - step) as f64 / (steps - warm_up).max(1) as f64
            };
            encoder_optimizer.set_learning_rate(config.learning_rate * rate);
            let (ids, mask) = data.batch(encoder, chunk)?;
            let vectors = encoder.embed(&ids, &mask, Some(config.dropout))?;
            let targets: Vec<u32> = chunk.iter().map(|&i| data.targets[i]).collect();
            let loss = (|| {
                let targets = Tensor::from_vec(targets, chunk.len(), encoder.device())?;
                let loss = candle_nn::loss::cross_entropy(&head.logits(&vectors)?, &targets)?;
                let gradients = loss.backward()?;
                encoder_optimizer.step(&gradients)?;
                head_optimizer.step(&gradients)?;
                loss.to_scalar::<f32>()
            })()
            .map_err(candle_error)?;
            progress(Progress {
                epoch,
                step,
                steps,
                loss,
                validation: None,
            });
        }
        let epoch_score = score(&data, encoder, &head, &validation, epoch)?;
        scores.push(epoch_score);
        progress(Progress {
            epoch,
            step,
            steps,
            loss: epoch_score.loss,
            validation: Some(epoch_score),
        });
        let better = epoch_score.accuracy > best.0.accuracy
            || (epoch_score.accuracy == best.0.accuracy && epoch_score.loss < best.0.loss);
        if better || !config.keep_best {
            best = (
                epoch_score,
                encoder.values()?,
                head.snapshot().map_err(candle_error)?,
            );
        }
    }
    encoder.restore(&best.1)?;
    head.restore(&best.2).map_err(candle_error)?;

    // The classifier as `finpulse train classifier` trains it, on frozen and on tuned vectors.
    let tuned_vectors = data.vectors(encoder, &everything)?;
    let classifier_config = TrainConfig {
        // With a test set every example trains, as `finpulse train classifier --test` does.
        holdout: if test.is_some() { 0.0 } else { config.holdout },
        seed: config.seed,
        ..TrainConfig::default()
    };
    let texts: Vec<String> = examples.iter().map(|(t, _)| t.clone()).collect();
    let report_on = |vectors: &[Vec<f32>], encoder: &Encoder| -> Result<Report, InferenceError> {
        let classifier = Classifier::train_inner(
            "encoder",
            encoder.hidden(),
            vectors,
            Some(&texts),
            &labels,
            &classifier_config,
        )?;
        let Some(test) = test else {
            return Ok(classifier.report);
        };
        let test_data = Data {
            texts: test.iter().map(|(t, _)| t.as_str()).collect(),
            targets: vec![0; test.len()],
            tokenizer: data.tokenizer,
        };
        let test_indices: Vec<usize> = (0..test.len()).collect();
        let test_vectors = test_data.vectors(encoder, &test_indices)?;
        Ok(classifier.evaluate_vectors(&test_vectors, test))
    };
    // The frozen report needs the frozen weights back for the test set's vectors.
    let tuned_values = encoder.values()?;
    let tuned_report = report_on(&tuned_vectors, encoder)?;
    let frozen_report = match test {
        Some(_) => {
            encoder.restore(&original)?;
            let report = report_on(&frozen_vectors, encoder)?;
            encoder.restore(&tuned_values)?;
            report
        }
        None => report_on(&frozen_vectors, encoder)?,
    };
    Ok(TuneReport {
        frozen: frozen_report,
        tuned: tuned_report,
        kept_epoch: best.0.epoch,
        epochs: scores,
        fitted_on: fit.len(),
        validated_on: validation.len(),
    })
}
