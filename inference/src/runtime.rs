//! Loading ONNX Runtime and the models of a manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ort::environment::Environment;
use tracing::info;

use crate::embedder::{BatchSettings, Embedder};
use crate::manifest::{Manifest, ModelSpec, verify};
use crate::{InferenceError, InferenceMetrics};

/// How models are run.
#[derive(Debug, Clone)]
pub struct InferenceConfig {
    /// The manifest (`models.toml`).
    pub manifest: PathBuf,
    /// Threads ONNX Runtime uses inside one model run.
    pub intra_threads: usize,
    /// Most texts in one model run.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others to join it. Zero waits not at
    /// all: calls that queued up while the previous batch ran are still batched together, so
    /// batches grow with load and an idle model answers at once.
    pub max_wait: Duration,
    /// Calls queued per model before new ones are refused as overloaded.
    pub queue: usize,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            manifest: PathBuf::from("models.toml"),
            intra_threads: 2,
            max_batch: 32,
            max_wait: Duration::ZERO,
            queue: 1024,
        }
    }
}

/// What callers may know about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Task: `embedding`.
    pub task: String,
    /// Vector length.
    pub dimension: usize,
    /// Longest input in tokens.
    pub max_length: usize,
    /// Licence.
    pub license: String,
    /// For people.
    pub description: String,
    /// What to put before a search query (empty for symmetric models).
    pub query_prefix: String,
    /// What to put before a searched passage.
    pub passage_prefix: String,
}

impl From<&ModelSpec> for ModelInfo {
    fn from(spec: &ModelSpec) -> Self {
        Self {
            name: spec.name.clone(),
            version: spec.version.clone(),
            task: spec.task.clone(),
            dimension: spec.dimension,
            max_length: spec.max_length,
            license: spec.license.clone(),
            query_prefix: spec.query_prefix.clone(),
            passage_prefix: spec.passage_prefix.clone(),
            description: spec.description.clone(),
        }
    }
}

/// The loaded models.
#[derive(Debug, Clone)]
pub struct Inference {
    embedders: BTreeMap<String, Embedder>,
    default_embedder: Option<String>,
}

/// ONNX Runtime is loaded once per process; a second load must name the same library.
static ENVIRONMENT: OnceLock<(PathBuf, Environment)> = OnceLock::new();

pub(crate) fn environment(library: &Path) -> Result<&'static Environment, InferenceError> {
    if let Some((path, environment)) = ENVIRONMENT.get() {
        if path != library {
            return Err(InferenceError::Runtime {
                path: library.to_path_buf(),
                reason: format!("ONNX Runtime is already loaded from {}", path.display()),
            });
        }
        return Ok(environment);
    }
    let runtime_error = |reason: String| InferenceError::Runtime {
        path: library.to_path_buf(),
        reason,
    };
    let environment = ort::init_from(library)
        .map_err(|e| runtime_error(e.to_string()))?
        .with_name("finpulse")
        .build()
        .map_err(|e| runtime_error(e.to_string()))?;
    // A racing loader may have won; either environment serves.
    let (_, environment) = ENVIRONMENT.get_or_init(|| (library.to_path_buf(), environment));
    Ok(environment)
}

impl Inference {
    /// Verifies every file of the manifest against its checksum, loads ONNX Runtime and starts
    /// one worker thread per model. Blocking: call it at start-up or from `spawn_blocking`.
    pub fn load(
        config: &InferenceConfig,
        metrics: &InferenceMetrics,
    ) -> Result<Self, InferenceError> {
        let manifest = Manifest::load(&config.manifest)?;
        let library = manifest.resolve(&manifest.runtime.file);
        verify("ONNX Runtime library", &library, &manifest.runtime.sha256)?;
        let environment = environment(&library)?;
        let settings = BatchSettings {
            intra_threads: config.intra_threads.max(1),
            max_batch: config.max_batch.max(1),
            max_wait: config.max_wait,
            queue: config.queue.max(1),
        };
        let mut embedders = BTreeMap::new();
        let mut default_embedder = None;
        for spec in &manifest.models {
            if spec.task != "embedding" {
                return Err(InferenceError::Load {
                    model: spec.name.clone(),
                    reason: format!("unknown task `{}`", spec.task),
                });
            }
            let model_path = manifest.resolve(&spec.file);
            verify("model", &model_path, &spec.sha256)?;
            let tokenizer_path = manifest.resolve(&spec.tokenizer);
            verify("tokenizer", &tokenizer_path, &spec.tokenizer_sha256)?;
            let embedder = Embedder::start(
                environment,
                spec.clone(),
                &model_path,
                &tokenizer_path,
                settings.clone(),
                metrics.clone(),
            )?;
            info!(model = %spec.name, version = %spec.version, dimension = spec.dimension, "model loaded");
            default_embedder.get_or_insert_with(|| spec.name.clone());
            embedders.insert(spec.name.clone(), embedder);
        }
        Ok(Self {
            embedders,
            default_embedder,
        })
    }

    /// The embedding model called `name`, or the manifest's first one.
    pub fn embedder(&self, name: Option<&str>) -> Result<Embedder, InferenceError> {
        let name = match name {
            Some(name) => name,
            None => self
                .default_embedder
                .as_deref()
                .ok_or_else(|| InferenceError::UnknownModel("(no embedding model)".into()))?,
        };
        self.embedders
            .get(name)
            .cloned()
            .ok_or_else(|| InferenceError::UnknownModel(name.to_owned()))
    }

    /// Every loaded model.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.embedders.values().map(|e| e.info().clone()).collect()
    }
}
