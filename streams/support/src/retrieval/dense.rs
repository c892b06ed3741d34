//! Dense retrieval: sentence embeddings of passages and queries from the inference crate.
//!
//! Some encoders want to be told which side of a search a text is on (multilingual-e5 expects
//! `query: ` and `passage: `); [`DenseModel`] adds the prefixes its manifest entry names, so
//! callers never do.

use std::sync::Arc;

use finpulse_inference::Embeddings;

use crate::SupportError;

/// An embedding model as retrieval uses it.
#[derive(Clone)]
pub struct DenseModel {
    embeddings: Arc<dyn Embeddings>,
    query_prefix: String,
    passage_prefix: String,
}

impl std::fmt::Debug for DenseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseModel")
            .field("model", &self.embeddings.info().name)
            .field("query_prefix", &self.query_prefix)
            .field("passage_prefix", &self.passage_prefix)
            .finish()
    }
}

impl DenseModel {
    /// `embeddings`, with the prefixes its model card asks for.
    pub fn new(embeddings: Arc<dyn Embeddings>) -> Self {
        let info = embeddings.info();
        let query_prefix = info.query_prefix.clone();
        let passage_prefix = info.passage_prefix.clone();
        Self {
            embeddings,
            query_prefix,
            passage_prefix,
        }
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.embeddings.info().name
    }

    /// One unit vector per passage.
    pub async fn embed_passages(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        self.embed(&self.passage_prefix, texts).await
    }

    /// One unit vector per query.
    pub async fn embed_queries(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        self.embed(&self.query_prefix, texts).await
    }

    /// The unit vector of one query.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, SupportError> {
        self.embed_queries(vec![text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| SupportError::Inference("the model returned no vector".into()))
    }

    async fn embed(&self, prefix: &str, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        let texts = if prefix.is_empty() {
            texts
        } else {
            texts
                .into_iter()
                .map(|text| format!("{prefix}{text}"))
                .collect()
        };
        self.embeddings
            .embed_as("support", texts)
            .await
            .map_err(|error| SupportError::Inference(error.to_string()))
    }
}

/// The dot product: the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
