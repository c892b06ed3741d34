//! Dense retrieval: sentence embeddings of passages and queries from the inference crate.
//!
//! Some encoders want to be told which side of a search a text is on (multilingual-e5 expects
//! `query: ` and `passage: `); [`DenseModel`] adds the prefixes its manifest entry names, so
//! callers never do.
//!
//! Batches (the knowledge base's passages, calibration's questions, training sets) are
//! remembered by their text, so re-indexing after an edit of the FAQ embeds only what changed;
//! a customer's single question is not (there is no end to those).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use finpulse_inference::Embeddings;

use crate::SupportError;

/// An embedding model as retrieval uses it.
#[derive(Clone)]
pub struct DenseModel {
    embeddings: Arc<dyn Embeddings>,
    query_prefix: String,
    passage_prefix: String,
    /// Vectors of batch texts, by the text as embedded (prefix included); shared by clones.
    remembered: Arc<Mutex<HashMap<String, Vec<f32>>>>,
    /// The last few single queries, newest last; shared by clones: the support processor
    /// reads a message's tone and then answers it, and both embed it with the primary model.
    recent: Arc<Mutex<VecDeque<Embedded>>>,
}

/// A text and its vector.
type Embedded = (String, Vec<f32>);

/// Single queries remembered: enough for the messages in flight, few enough that customers'
/// words are not kept in memory for long.
const RECENT_QUERIES: usize = 32;

/// Texts remembered at most; past it the memory starts again (a knowledge base of a few
/// thousand passages in two roles fits many times over).
const REMEMBERED: usize = 50_000;

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
            remembered: Arc::default(),
            recent: Arc::default(),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.embeddings.info().name
    }

    /// One unit vector per passage (remembered).
    pub async fn embed_passages(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        self.embed_remembered(prefixed(&self.passage_prefix, texts))
            .await
    }

    /// One unit vector per query of a batch (remembered).
    pub async fn embed_queries(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        self.embed_remembered(prefixed(&self.query_prefix, texts))
            .await
    }

    /// The unit vector of one query (a customer's question), remembered among the last
    /// [`RECENT_QUERIES`] only.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, SupportError> {
        if let Some((_, vector)) = self.recent.lock().iter().rev().find(|(t, _)| t == text) {
            return Ok(vector.clone());
        }
        let vector = self
            .embed(prefixed(&self.query_prefix, vec![text.to_owned()]))
            .await?
            .pop()
            .ok_or_else(|| SupportError::Inference("the model returned no vector".into()))?;
        let mut recent = self.recent.lock();
        if recent.len() == RECENT_QUERIES {
            recent.pop_front();
        }
        recent.push_back((text.to_owned(), vector.clone()));
        Ok(vector)
    }

    /// Texts not remembered yet are embedded (once each) and remembered; the rest are read.
    async fn embed_remembered(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        let known: Vec<Option<Vec<f32>>> = {
            let remembered = self.remembered.lock();
            texts
                .iter()
                .map(|text| remembered.get(text).cloned())
                .collect()
        };
        let mut missing: Vec<String> = texts
            .iter()
            .zip(&known)
            .filter(|(_, known)| known.is_none())
            .map(|(text, _)| text.clone())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let fresh: HashMap<String, Vec<f32>> = if missing.is_empty() {
            HashMap::new()
        } else {
            let vectors = self.embed(missing.clone()).await?;
            if vectors.len() != missing.len() {
                return Err(SupportError::Inference(format!(
                    "the model returned {} vectors for {} texts",
                    vectors.len(),
                    missing.len()
                )));
            }
            missing.into_iter().zip(vectors).collect()
        };
        let out = texts
            .iter()
            .zip(known)
            .map(|(text, known)| known.unwrap_or_else(|| fresh[text].clone()))
            .collect();
        let mut remembered = self.remembered.lock();
        if remembered.len() + fresh.len() > REMEMBERED {
            remembered.clear();
        }
        remembered.extend(fresh);
        Ok(out)
    }

    /// The file name under which [`DenseModel::save_memory`] keeps this model's remembered
    /// vectors: the model's name, version and dimension are in it, so another model (or
    /// another build of it) never reads them.
    pub fn memory_file_name(&self) -> String {
        let info = self.embeddings.info();
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for byte in format!("{}\0{}\0{}", info.name, info.version, info.dimension).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("support-vectors-{}-{hash:016x}.bin", info.name)
    }

    /// Writes the remembered vectors (the knowledge base's passages and variants) to `path`,
    /// so the next start indexes without embedding them again. Written beside and renamed,
    /// so a reader never sees half a file.
    pub fn save_memory(&self, path: &std::path::Path) -> std::io::Result<usize> {
        let entries: Vec<(String, Vec<f32>)> = self
            .remembered
            .lock()
            .iter()
            .map(|(text, vector)| (text.clone(), vector.clone()))
            .collect();
        let bytes = postcard::to_stdvec(&entries).map_err(std::io::Error::other)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let partial = path.with_extension("bin.partial");
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, path)?;
        Ok(entries.len())
    }

    /// Reads vectors written by [`DenseModel::save_memory`] into the memory; returns how many.
    /// A vector of the wrong length (a damaged or foreign file) refuses the whole file.
    pub fn load_memory(&self, path: &std::path::Path) -> std::io::Result<usize> {
        let bytes = std::fs::read(path)?;
        let entries: Vec<(String, Vec<f32>)> = postcard::from_bytes(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let dimension = self.embeddings.info().dimension;
        if entries.len() > REMEMBERED || entries.iter().any(|(_, v)| v.len() != dimension) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not {dimension}-value vectors of this model, or too many"),
            ));
        }
        let count = entries.len();
        let mut remembered = self.remembered.lock();
        if remembered.len() + count > REMEMBERED {
            remembered.clear();
        }
        remembered.extend(entries);
        Ok(count)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, SupportError> {
        self.embeddings
            .embed_as("support", texts)
            .await
            .map_err(|error| SupportError::Inference(error.to_string()))
    }
}

fn prefixed(prefix: &str, texts: Vec<String>) -> Vec<String> {
    if prefix.is_empty() {
        texts
    } else {
        texts
            .into_iter()
            .map(|text| format!("{prefix}{text}"))
            .collect()
    }
}

/// The dot product: the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
