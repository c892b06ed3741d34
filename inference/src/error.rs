//! The error type of the inference crate.

use std::path::PathBuf;

/// What can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    /// The manifest could not be read or parsed.
    #[error("invalid model manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file the manifest names is not there.
    #[error("{what} {path} is missing; run scripts/setup-models.sh (or `make models`) to fetch it")]
    Missing {
        /// Which file: `ONNX Runtime library`, `model`, `tokenizer`.
        what: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A file is there but is not the one the manifest describes.
    #[error("{path} has sha256 {actual}, the manifest expects {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Its digest.
        actual: String,
        /// The manifest's digest.
        expected: String,
    },
    /// ONNX Runtime's shared library could not be loaded.
    #[error("failed to load ONNX Runtime from {path}: {reason}")]
    Runtime {
        /// The library.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model or tokenizer could not be loaded, or does not fit its manifest entry.
    #[error("failed to load model `{model}`: {reason}")]
    Load {
        /// The model's name.
        model: String,
        /// Why.
        reason: String,
    },
    /// No model of that name is loaded.
    #[error("no model named `{0}`")]
    UnknownModel(String),
    /// Inference failed.
    #[error("inference failed on model `{model}`: {reason}")]
    Run {
        /// The model's name.
        model: String,
        /// Why.
        reason: String,
    },
    /// The model's queue is full: the caller should back off.
    #[error("model `{0}` is overloaded")]
    Overloaded(String),
    /// No answer in time (a remote inference worker did not reply).
    #[error("model `{0}` did not answer in time")]
    Timeout(String),
    /// The model's worker stopped.
    #[error("model `{0}` is shut down")]
    Closed(String),
    /// A request that cannot be served as given.
    #[error("{0}")]
    BadInput(String),
}

impl finpulse_core::error::ServiceError for InferenceError {
    fn error_code(&self) -> finpulse_core::error::ErrorCode {
        use finpulse_core::error::ErrorCode;
        match self {
            Self::BadInput(_) => ErrorCode::BadUserInput,
            Self::Overloaded(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Self::Overloaded(_) => "the model is busy; retry shortly".into(),
            other => other.to_string(),
        }
    }
}
