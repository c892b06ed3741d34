//! Sentiment of short texts: negative, neutral or positive, from a classifier head
//! ([`crate::Classifier`]) over sentence embeddings. With a multilingual encoder it reads every
//! language the encoder does, from one labelled set.
//!
//! The support desk trains it on its labelled tickets (`streams/support/data/tickets.csv`,
//! column `sentiment`) and weighs ticket priority with it; the news work reuses it for
//! headlines. [`SentimentScore::polarity`] (probability of positive minus negative) is the
//! signed number a caller averages or thresholds.

use crate::{Classifier, InferenceError, TrainConfig};

/// The labels a sentiment head predicts.
pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// A trained sentiment head.
#[derive(Debug, Clone)]
pub struct SentimentModel {
    head: Classifier,
}

/// One text's sentiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentimentScore {
    /// The most probable label, one of [`LABELS`].
    pub label: &'static str,
    /// Its probability.
    pub confidence: f32,
    /// P(positive) − P(negative), in [−1, 1].
    pub polarity: f32,
}

impl SentimentModel {
    /// A head over `classifier`, whose labels must all be [`LABELS`].
    pub fn from_classifier(head: Classifier) -> Result<Self, InferenceError> {
        if let Some(other) = head.labels.iter().find(|l| !LABELS.contains(&l.as_str())) {
            return Err(InferenceError::BadInput(format!(
                "a sentiment label is negative, neutral or positive, not `{other}`"
            )));
        }
        Ok(Self { head })
    }

    /// Trains a head on embedded texts and their labels (see
    /// [`Classifier::train_on_vectors`]; the report holds its held-out scores).
    pub fn train_on_vectors(
        embedding_model: &str,
        dimension: usize,
        vectors: &[Vec<f32>],
        labels: &[String],
        config: &TrainConfig,
    ) -> Result<Self, InferenceError> {
        if let Some(other) = labels.iter().find(|l| !LABELS.contains(&l.as_str())) {
            return Err(InferenceError::BadInput(format!(
                "a sentiment label is negative, neutral or positive, not `{other}`"
            )));
        }
        Self::from_classifier(Classifier::train_on_vectors(
            embedding_model,
            dimension,
            vectors,
            labels,
            config,
        )?)
    }

    /// The head, with its held-out report.
    pub fn classifier(&self) -> &Classifier {
        &self.head
    }

    /// The sentiment of an embedded text.
    pub fn score(&self, vector: &[f32]) -> Result<SentimentScore, InferenceError> {
        let prediction = self.head.predict(vector)?;
        let probability = |label: &str| {
            prediction
                .scores
                .iter()
                .find(|(l, _)| l == label)
                .map_or(0.0, |(_, p)| *p)
        };
        let label = LABELS
            .into_iter()
            .find(|l| *l == prediction.label)
            .expect("labels were checked when the head was made");
        Ok(SentimentScore {
            label,
            confidence: prediction.confidence,
            polarity: probability("positive") - probability("negative"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well separated clusters in 4 dimensions, one per label.
    fn clusters() -> (Vec<Vec<f32>>, Vec<String>) {
        let mut vectors = Vec::new();
        let mut labels = Vec::new();
        for i in 0..30 {
            let jitter = (i as f32 * 0.37).sin() * 0.1;
            for (axis, label) in LABELS.iter().enumerate() {
                let mut v = vec![jitter; 4];
                v[axis] = 1.0;
                vectors.push(v);
                labels.push((*label).to_owned());
            }
        }
        (vectors, labels)
    }

    #[test]
    fn polarity_is_signed_by_the_predicted_side() {
        let (vectors, labels) = clusters();
        let model =
            SentimentModel::train_on_vectors("test", 4, &vectors, &labels, &TrainConfig::default())
                .unwrap();
        assert!(model.classifier().report.accuracy > 0.95);
        let negative = model.score(&[1.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(negative.label, "negative");
        assert!(negative.polarity < -0.5, "{negative:?}");
        let positive = model.score(&[0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(positive.label, "positive");
        assert!(positive.polarity > 0.5, "{positive:?}");
    }

    #[test]
    fn other_labels_are_refused() {
        let (vectors, mut labels) = clusters();
        labels[0] = "angry".into();
        let error =
            SentimentModel::train_on_vectors("test", 4, &vectors, &labels, &TrainConfig::default())
                .unwrap_err();
        assert!(error.to_string().contains("`angry`"), "{error}");
    }
}
