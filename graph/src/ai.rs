//! Queries over the inference layer: summaries, language identification, model metadata.

use std::num::NonZeroU32;
use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use finpulse_inference::summarize::{Length, MAX_SENTENCES, split_sentences, summarize};
use finpulse_inference::{Embeddings, ForCaller, ModelInfo};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tracing::instrument;

use crate::error::{ApiError, ApiResult};
use crate::principal::Caller;

/// Complexity points one sentence of model input costs. A field costs 1, so one summary of the
/// longest text accepted (512 sentences) costs about half of `MAX_COMPLEXITY`: two fit in one
/// request, three do not, whatever the aliases.
pub const COMPLEXITY_PER_SENTENCE: usize = 10;

/// The complexity of summarising `text`: what it costs the model, by its sentences.
pub fn summarize_complexity(text: &str) -> usize {
    // Splitting is linear and the text already passed the size limit of the query; a text too
    // long to summarise still costs its cap, and the resolver refuses it.
    1 + split_sentences(text).len().min(MAX_SENTENCES + 1) * COMPLEXITY_PER_SENTENCE
}

/// Model work each caller may ask for over time (in sentences embedded), so that no client
/// holds the models by repeating requests that each pass the per-request limit.
#[derive(Debug, Clone)]
pub struct ModelBudget {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl ModelBudget {
    /// `per_minute` units sustained, `burst` at once, per caller.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let one = NonZeroU32::MIN;
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(one))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
        }
    }

    /// Takes `units` from `caller`'s budget, or says when to retry.
    pub fn charge(&self, caller: &Caller, units: usize) -> Result<(), ApiError> {
        let Some(units) = NonZeroU32::new(u32::try_from(units).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        match self.limiter.check_key_n(&caller.0, units) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(ApiError::RateLimited {
                    message: format!(
                        "model budget used up: {units} sentences asked; retry in {} s",
                        wait.as_secs().max(1)
                    ),
                    retry_after_secs: wait.as_secs().max(1),
                })
            }
            Err(_) => Err(ApiError::RateLimited {
                message: format!(
                    "{units} sentences are more model work than one caller may ask at once"
                ),
                retry_after_secs: 60,
            }),
        }
    }

    /// Forgets callers whose budget is full again.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

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
    /// Model work per caller; `None` leaves it unbounded (tests, tools).
    pub budget: Option<ModelBudget>,
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
    #[graphql(complexity = "summarize_complexity(&text) + child_complexity")]
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
        let ai = ai(ctx)?;
        let caller = ctx
            .data_opt::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller("anonymous".into()));
        if let Some(budget) = &ai.budget {
            let sentences = split_sentences(text).len();
            // Only texts the model will see are charged: a short one is returned as it is.
            let modelled = match length {
                Length::Sentences(n) => sentences > n,
                Length::Ratio(_) => sentences > 1,
            };
            if modelled && sentences <= MAX_SENTENCES {
                budget.charge(&caller, sentences)?;
            }
        }
        let embeddings = ForCaller::new(ai.embeddings.clone(), caller.0);
        Ok(summarize(&embeddings, text, length)
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
