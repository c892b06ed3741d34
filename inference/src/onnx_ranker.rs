//! Scoring candidates with an ONNX ranker: one float32 row of features per candidate in, one
//! score per candidate out, higher first.
//!
//! The contract is the manifest's `[ranker]` entry (input and output names, the features in
//! column order), so a ranker trained anywhere replaces ours with no code change. The model runs
//! in the caller's thread (a ranker is a few small matrix products: microseconds for a list's
//! candidates); the session sits behind a mutex because ONNX Runtime's `run` needs it alone.

use ort::session::Session;
use ort::value::Tensor;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::InferenceError;
use crate::manifest::{Manifest, verify};

/// The `[ranker]` entry of the manifest: where the ranker is and what it takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankerSpec {
    /// The ONNX file, under the manifest's `dir` (written by `finpulse train recommender`, or
    /// yours).
    pub file: std::path::PathBuf,
    /// Its sha256 (hex) when the file is one you place and want checked; none for ours.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The input: float32 [N, features.len()].
    pub input: String,
    /// The output: float32 `[N, 1]` or `[N]`.
    pub output: String,
    /// The features, in column order.
    pub features: Vec<String>,
}

/// A loaded ranker.
pub struct OnnxRanker {
    session: Mutex<Session>,
    spec: RankerSpec,
    name: String,
    /// The ONNX file it was loaded from, kept so a trained model can be stored with its ranker
    /// (a logistic scorer is a few hundred bytes).
    onnx: Vec<u8>,
}

impl std::fmt::Debug for OnnxRanker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRanker")
            .field("name", &self.name)
            .field("features", &self.spec.features)
            .finish_non_exhaustive()
    }
}

impl OnnxRanker {
    /// Loads a ranker from `bytes` (an ONNX file) under the manifest's runtime, checking that
    /// it has the contract's input and output. `name` is shown in provenance.
    pub fn from_bytes(
        manifest: &Manifest,
        spec: RankerSpec,
        bytes: &[u8],
        name: impl Into<String>,
    ) -> Result<Self, InferenceError> {
        let name = name.into();
        let load_error = |reason: String| InferenceError::Load {
            model: name.clone(),
            reason,
        };
        let library = manifest.resolve(&manifest.runtime.file);
        verify("ONNX Runtime library", &library, &manifest.runtime.sha256)?;
        let environment = crate::runtime::environment(&library)?;
        let session = Session::builder(environment)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| load_error(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(|e| load_error(e.to_string()))?;
        if !session.inputs().iter().any(|i| i.name() == spec.input) {
            return Err(load_error(format!("it has no input `{}`", spec.input)));
        }
        if !session.outputs().iter().any(|o| o.name() == spec.output) {
            return Err(load_error(format!("it has no output `{}`", spec.output)));
        }
        Ok(Self {
            session: Mutex::new(session),
            spec,
            name,
            onnx: bytes.to_vec(),
        })
    }

    /// Loads the manifest's ranker file.
    pub fn load(manifest: &Manifest, spec: RankerSpec) -> Result<Self, InferenceError> {
        let path = manifest.resolve(&spec.file);
        if let Some(sha256) = &spec.sha256 {
            verify("ranker", &path, sha256)?;
        }
        let bytes = std::fs::read(&path).map_err(|_| InferenceError::Missing {
            what: "ranker",
            path: path.clone(),
        })?;
        let name = format!(
            "onnx:{}",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        Self::from_bytes(manifest, spec, &bytes, name)
    }

    /// The ONNX file it runs.
    pub fn onnx(&self) -> &[u8] {
        &self.onnx
    }

    /// What provenance calls it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contract.
    pub fn spec(&self) -> &RankerSpec {
        &self.spec
    }

    /// One score per row of `features` (row-major, `self.spec().features.len()` columns).
    pub fn score(&self, features: &[f32]) -> Result<Vec<f32>, InferenceError> {
        let width = self.spec.features.len();
        if width == 0 || !features.len().is_multiple_of(width) {
            return Err(InferenceError::BadInput(format!(
                "{} values are not rows of {width} features",
                features.len()
            )));
        }
        let rows = features.len() / width;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let run_error = |reason: String| InferenceError::Run {
            model: self.name.clone(),
            reason,
        };
        let tensor = Tensor::from_array((vec![rows as i64, width as i64], features.to_vec()))
            .map_err(|e| run_error(e.to_string()))?;
        let mut session = self.session.lock();
        let outputs = session
            .run(vec![(self.spec.input.clone(), tensor)])
            .map_err(|e| run_error(e.to_string()))?;
        let output = outputs
            .get(&self.spec.output)
            .ok_or_else(|| run_error(format!("no output `{}`", self.spec.output)))?;
        let (_, scores) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(e.to_string()))?;
        if scores.len() != rows {
            return Err(run_error(format!(
                "{} scores for {rows} rows",
                scores.len()
            )));
        }
        Ok(scores.to_vec())
    }
}
