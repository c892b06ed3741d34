//! Triage models: a ticket's category and the customer's sentiment, two classifier heads of
//! the inference crate over one sentence embedding of the ticket's text.
//!
//! Both heads are trained on the shipped labelled tickets (`data/tickets.csv`: 850 tickets
//! written by us in English, German, French and Spanish, 17 categories, each with its
//! sentiment), embedding every text once with the desk's primary model (the multilingual one,
//! so a Spanish ticket is read as well as an English one). Training takes seconds to a minute
//! on two cores, so the trained heads are cached as JSON under the models folder, keyed by the
//! model, the labelled set and the settings: a later start reads them back in milliseconds,
//! and any change retrains.

use std::path::{Path, PathBuf};

use finpulse_core::support::Sentiment;
use finpulse_inference::sentiment::SentimentModel;
use finpulse_inference::{Classifier, TrainConfig};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::SupportError;
use crate::retrieval::DenseModel;

/// The shipped labelled tickets (`text,label,sentiment,language`).
pub const LABELLED_TICKETS: &str = include_str!("../../data/tickets.csv");

/// One labelled ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledTicket {
    /// What the customer wrote.
    pub text: String,
    /// Its category.
    pub category: String,
    /// Its sentiment label (`negative`, `neutral`, `positive`).
    pub sentiment: String,
}

/// Reads labelled tickets from CSV text with a header naming `text`, `label` and
/// `sentiment` (other columns ignored); a bad row is an error naming its line.
pub fn parse_labelled(text: &str) -> Result<Vec<LabelledTicket>, SupportError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let bad = |message: String| SupportError::InvalidInput(format!("labelled tickets: {message}"));
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(text_at), Some(label_at), Some(sentiment_at)) =
        (column("text"), column("label"), column("sentiment"))
    else {
        return Err(bad("needs `text`, `label` and `sentiment` columns".into()));
    };
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        let field = |at: usize| record.get(at).map(str::trim).unwrap_or_default();
        let (text, category, sentiment) = (field(text_at), field(label_at), field(sentiment_at));
        if text.is_empty() || category.is_empty() || Sentiment::parse(sentiment).is_none() {
            return Err(bad(format!(
                "line {line}: needs a text, a label and a sentiment (negative, neutral, positive)"
            )));
        }
        rows.push(LabelledTicket {
            text: text.to_owned(),
            category: category.to_owned(),
            sentiment: sentiment.to_owned(),
        });
    }
    Ok(rows)
}

/// What triage found for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Triaged {
    /// The most probable category.
    pub category: String,
    /// Its probability.
    pub confidence: f32,
    /// The sentiment.
    pub sentiment: Sentiment,
}

/// The two trained heads, as cached.
#[derive(Serialize, Deserialize)]
struct Heads {
    category: Classifier,
    sentiment: Classifier,
}

/// The triage models.
#[derive(Clone)]
pub struct TriageModels {
    model: DenseModel,
    category: Classifier,
    sentiment: SentimentModel,
}

impl std::fmt::Debug for TriageModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriageModels")
            .field("model", &self.model.name())
            .field("categories", &self.category.labels.len())
            .finish()
    }
}

/// FNV-1a: a stable fingerprint for the cache's file name (not a security boundary).
fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl TriageModels {
    /// The settings the desk trains with: the inference crate's defaults (a stratified
    /// quarter held out for the report, L2 and passes tuned on a validation fifth of the
    /// rest), then refitted on every labelled ticket for serving.
    pub fn train_config() -> TrainConfig {
        TrainConfig {
            refit_all: true,
            ..TrainConfig::default()
        }
    }

    /// Trains both heads on `rows`, embedding each text once with `model`.
    pub async fn train(
        model: DenseModel,
        rows: &[LabelledTicket],
        config: &TrainConfig,
    ) -> Result<Self, SupportError> {
        let vectors = model
            .embed_queries(rows.iter().map(|r| r.text.clone()).collect())
            .await?;
        let dimension = vectors.first().map_or(0, Vec::len);
        let categories: Vec<String> = rows.iter().map(|r| r.category.clone()).collect();
        let sentiments: Vec<String> = rows.iter().map(|r| r.sentiment.clone()).collect();
        let name = model.name().to_owned();
        let config = config.clone();
        let (category, sentiment) = tokio::task::spawn_blocking(move || {
            let category =
                Classifier::train_on_vectors(&name, dimension, &vectors, &categories, &config)?;
            let sentiment =
                SentimentModel::train_on_vectors(&name, dimension, &vectors, &sentiments, &config)?;
            Ok::<_, finpulse_inference::InferenceError>((category, sentiment))
        })
        .await
        .map_err(|e| SupportError::Inference(format!("triage training panicked: {e}")))?
        .map_err(|e| SupportError::Inference(e.to_string()))?;
        Ok(Self {
            model,
            category,
            sentiment,
        })
    }

    /// The heads cached in `cache_dir` for this model, labelled set and settings, or trained
    /// now (and cached there, best effort).
    pub async fn load_or_train(
        model: DenseModel,
        labelled: &str,
        config: &TrainConfig,
        cache_dir: Option<&Path>,
    ) -> Result<Self, SupportError> {
        let settings = format!("{config:?}");
        let key = fingerprint(&[model.name(), labelled, &settings]);
        let path: Option<PathBuf> =
            cache_dir.map(|dir| dir.join(format!("support-triage-{key:016x}.json")));
        if let Some(path) = &path
            && let Ok(text) = std::fs::read_to_string(path)
        {
            match serde_json::from_str::<Heads>(&text) {
                Ok(heads) => match SentimentModel::from_classifier(heads.sentiment) {
                    Ok(sentiment) => {
                        info!(path = %path.display(), "triage models read from the cache");
                        return Ok(Self {
                            model,
                            category: heads.category,
                            sentiment,
                        });
                    }
                    Err(error) => {
                        warn!(%error, "the cached triage models are unusable; retraining")
                    }
                },
                Err(error) => warn!(%error, "the cached triage models are unreadable; retraining"),
            }
        }
        let rows = parse_labelled(labelled)?;
        let started = std::time::Instant::now();
        let trained = Self::train(model, &rows, config).await?;
        info!(
            tickets = rows.len(),
            seconds = started.elapsed().as_secs_f64(),
            category_accuracy = trained.category.report.accuracy,
            category_macro_f1 = trained.category.report.macro_f1,
            sentiment_accuracy = trained.sentiment.classifier().report.accuracy,
            sentiment_macro_f1 = trained.sentiment.classifier().report.macro_f1,
            "triage models trained (held-out scores)"
        );
        if let Some(path) = &path {
            let heads = Heads {
                category: trained.category.clone(),
                sentiment: trained.sentiment.classifier().clone(),
            };
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    let partial = path.with_extension("json.partial");
                    std::fs::write(
                        &partial,
                        serde_json::to_vec(&heads).expect("heads serialise"),
                    )?;
                    std::fs::rename(&partial, path)
                });
            if let Err(error) = written {
                warn!(%error, path = %path.display(), "failed to cache the triage models");
            }
        }
        Ok(trained)
    }

    /// The category head, with its held-out report.
    pub fn category(&self) -> &Classifier {
        &self.category
    }

    /// The sentiment head.
    pub fn sentiment(&self) -> &SentimentModel {
        &self.sentiment
    }

    /// The sentiment of one message.
    pub async fn sentiment_of(&self, text: &str) -> Result<Sentiment, SupportError> {
        let vector = self.model.embed_query(text).await?;
        let score = self
            .sentiment
            .score(&vector)
            .map_err(|e| SupportError::Inference(e.to_string()))?;
        Ok(Sentiment::parse(score.label)
            .expect("the sentiment head predicts only its three labels"))
    }

    /// The category and sentiment of `text`.
    pub async fn triage(&self, text: &str) -> Result<Triaged, SupportError> {
        let vector = self.model.embed_query(text).await?;
        let category = self
            .category
            .predict(&vector)
            .map_err(|e| SupportError::Inference(e.to_string()))?;
        let sentiment = self
            .sentiment
            .score(&vector)
            .map_err(|e| SupportError::Inference(e.to_string()))?;
        Ok(Triaged {
            category: category.label,
            confidence: category.confidence,
            sentiment: Sentiment::parse(sentiment.label)
                .expect("the sentiment head predicts only its three labels"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_set_is_large_varied_and_well_formed() {
        let rows = parse_labelled(LABELLED_TICKETS).unwrap();
        assert!(rows.len() >= 800, "{}", rows.len());
        let categories: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.category.as_str()).collect();
        assert!(categories.len() >= 15, "{categories:?}");
        let texts: std::collections::HashSet<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts.len(), rows.len(), "no text twice");
        for sentiment in ["negative", "neutral", "positive"] {
            assert!(rows.iter().any(|r| r.sentiment == sentiment));
        }
    }

    #[test]
    fn a_bad_row_is_named_by_its_line() {
        let error = parse_labelled("text,label,sentiment\nok,card_fraud,negative\nx,y,furious\n")
            .unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
        assert!(parse_labelled("text,category\nx,y\n").is_err());
    }

    #[test]
    fn the_fingerprint_changes_with_any_part() {
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_ne!(fingerprint(&["a", "b"]), fingerprint(&["ab", ""]));
        assert_ne!(fingerprint(&["a", "b"]), fingerprint(&["a", "c"]));
    }
}
