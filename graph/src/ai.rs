//! Queries over the inference layer: summaries, language identification, model metadata.

use async_graphql::{Context, Object, SimpleObject};
use finpulse_inference::summarize::{Length, summarize};
use std::sync::Arc;

use finpulse_inference::{Embeddings, InferenceError, ModelInfo};
use tracing::instrument;

use crate::error::{ApiError, ApiResult};

/// Longest text accepted by `summarize` and `detectLanguage`, in bytes.
pub const MAX_TEXT_BYTES: usize = 100_000;
/// Most sentences a summary may ask for.
pub const MAX_SUMMARY_SENTENCES: i32 = 50;

/// A language.
#[derive(Debug, Clone, SimpleObject)]
pub struct Language {
    /// ISO 639-1 code where one exists (`en`), else ISO 639-3.
    pub code: String,
    /// ISO 639-3 code (`eng`).
    pub iso639_3: String,
    /// English name.
    pub name: String,
}

/// A loaded model.
#[derive(Debug, Clone, SimpleObject)]
pub struct Model {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// What it does (`embedding`).
    pub task: String,
    /// Length of its vectors.
    pub dimension: i32,
    /// Longest input in tokens.
    pub max_length: i32,
    /// Licence.
    pub license: String,
    /// For people.
    pub description: String,
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::BadInput(message) => Self::BadUserInput(message),
            InferenceError::Overloaded(_) => {
                Self::Unavailable("the model is busy; retry shortly".into())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

fn text_arg(text: &str) -> Result<&str, ApiError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::BadUserInput(format!(
            "text is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(text)
}

/// What the AI queries reach: the embedding model (here or on inference workers) and the
/// models' metadata. Absent from the schema's data when inference is off.
#[derive(Clone)]
pub struct AiContext {
    /// The embedding model.
    pub embeddings: Arc<dyn Embeddings>,
    /// Every model, for `models`.
    pub models: Vec<ModelInfo>,
}

fn ai<'a>(ctx: &'a Context<'_>) -> Result<&'a AiContext, ApiError> {
    ctx.data_opt::<AiContext>().ok_or_else(|| {
        ApiError::Unavailable("models are not loaded on this server (inference.enabled)".into())
    })
}

/// The AI part of the query root.
#[derive(Debug, Default)]
pub struct AiQuery;

#[Object]
impl AiQuery {
    /// The sentences that best stand for `text`, in their order: `sentences` of them, or a
    /// `ratio` of all (0 to 1) when given.
    #[instrument(skip_all, fields(bytes = text.len()), err(Debug))]
    async fn summarize(
        &self,
        ctx: &Context<'_>,
        text: String,
        #[graphql(default = 3)] sentences: i32,
        ratio: Option<f64>,
    ) -> ApiResult<Vec<String>> {
        let text = text_arg(&text)?;
        let length = match ratio {
            Some(ratio) => Length::Ratio(ratio as f32),
            None if (1..=MAX_SUMMARY_SENTENCES).contains(&sentences) => {
                Length::Sentences(sentences as usize)
            }
            None => {
                return Err(ApiError::BadUserInput(format!(
                    "sentences must be between 1 and {MAX_SUMMARY_SENTENCES}"
                ))
                .into());
            }
        };
        let embeddings = ai(ctx)?.embeddings.clone();
        Ok(summarize(embeddings.as_ref(), text, length)
            .await
            .map_err(ApiError::from)?)
    }

    /// The language `text` is written in, or null when there is nothing to go on.
    async fn detect_language(&self, text: String) -> ApiResult<Option<Language>> {
        let text = text_arg(&text)?;
        Ok(
            finpulse_inference::language::detect(text).map(|l| Language {
                code: l.code.into(),
                iso639_3: l.iso639_3.into(),
                name: l.name.into(),
            }),
        )
    }

    /// The models this server runs.
    async fn models(&self, ctx: &Context<'_>) -> ApiResult<Vec<Model>> {
        let Some(ai) = ctx.data_opt::<AiContext>() else {
            return Ok(Vec::new());
        };
        Ok(ai
            .models
            .iter()
            .map(|m| Model {
                name: m.name.clone(),
                version: m.version.clone(),
                task: m.task.clone(),
                dimension: i32::try_from(m.dimension).unwrap_or(i32::MAX),
                max_length: i32::try_from(m.max_length).unwrap_or(i32::MAX),
                license: m.license.clone(),
                description: m.description.clone(),
            })
            .collect())
    }
}
