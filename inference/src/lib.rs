//! Inference for finpulse: real transformer models through ONNX Runtime and `tokenizers`,
//! offline.
//!
//! - [`manifest`]: `models.toml` names every model file, its tokenizer, inputs, output,
//!   pooling, dimension, checksum and licence; files are verified before use.
//! - [`Inference`] loads ONNX Runtime's shared library once and one session per model, each
//!   driven by its own thread: inference never runs on the async runtime.
//! - [`Embedder`] is the async face of an embedding model. Requests arriving within
//!   `max_wait` are **micro-batched** (up to `max_batch` texts, padded to the longest in the
//!   batch, truncated to the model's `max_length`), then mean-pooled over the attention mask and
//!   L2-normalised.
//! - On top: [`language::detect`], [`summarize::summarize`] (extractive: embedding centrality
//!   with MMR), [`VectorIndex`] (exact cosine nearest neighbours) and [`Classifier`] (a softmax
//!   head trained on embeddings from a labelled CSV, with confidences).
//!
//! This crate does no IO beyond reading model files and depends on no other workspace crate.

pub mod classifier;
mod embedder;
mod error;
mod fair;
pub mod index;
pub mod language;
pub mod manifest;
mod metrics;
pub mod onnx;
pub mod onnx_ranker;
mod runtime;
pub mod sentiment;
pub mod summarize;
pub mod tuning;

pub use classifier::{Classifier, TrainConfig};
pub use embedder::{Embedder, Embeddings, ForCaller};
pub use error::InferenceError;
pub use index::VectorIndex;
pub use manifest::{Manifest, ModelSpec, Pooling};
pub use metrics::InferenceMetrics;
pub use runtime::{Inference, InferenceConfig, ModelInfo};
