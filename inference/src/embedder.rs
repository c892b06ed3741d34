//! An embedding model behind a micro-batching worker thread.
//!
//! Calls go into a bounded queue (a full queue refuses the call as overloaded rather than
//! growing without bound). The model's thread takes the first waiting call, lets others join it
//! for up to `max_wait` or until `max_batch` texts, then builds each batch fairly from every
//! caller's waiting calls ([`crate::fair`]: a large call is served a share at a time, calls
//! whose caller left are dropped), tokenises it (padded to the longest, truncated to
//! `max_length`), runs the model once, pools and normalises, and answers each call when all its
//! texts are done. Batching is where the throughput comes from: one run of 32 texts costs far
//! less than 32 runs of one.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::oneshot;
use tracing::{debug, error};

use crate::fair::{Call, FairQueue, Slice};
use crate::manifest::{ModelSpec, Pooling};
use crate::{InferenceError, InferenceMetrics, ModelInfo};

/// Batching and threading of one model.
#[derive(Debug, Clone)]
pub(crate) struct BatchSettings {
    pub intra_threads: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub queue: usize,
}

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, InferenceError>>;

/// One call waiting for its batch.
struct Job {
    texts: Vec<String>,
    reply: Reply,
    enqueued: Instant,
    /// Who asked: calls are served fairly between callers.
    caller: Arc<str>,
}

impl Call for Job {
    fn len(&self) -> usize {
        self.texts.len()
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// A model's tokenizer as batches need it: padded to the batch's longest text, cut at
/// `max_length` tokens.
pub(crate) fn load_tokenizer(path: &Path, max_length: usize) -> Result<Tokenizer, String> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| e.to_string())?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            ..TruncationParams::default()
        }))
        .map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

/// The async face of an embedding model; cheap to clone.
#[derive(Debug, Clone)]
pub struct Embedder {
    info: Arc<ModelInfo>,
    queue: SyncSender<Job>,
    metrics: InferenceMetrics,
}

impl Embedder {
    /// Loads the model and its tokenizer and starts the model's thread.
    pub(crate) fn start(
        environment: &Environment,
        spec: ModelSpec,
        model_path: &Path,
        tokenizer_path: &Path,
        settings: BatchSettings,
        metrics: InferenceMetrics,
    ) -> Result<Self, InferenceError> {
        let model = spec.name.clone();
        let load_error = |reason: String| InferenceError::Load {
            model: model.clone(),
            reason,
        };
        let session = Session::builder(environment)
            .map_err(|e| load_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(settings.intra_threads)
            .map_err(|e| load_error(e.to_string()))?
            .commit_from_file(model_path)
            .map_err(|e| load_error(e.to_string()))?;
        for input in &spec.inputs {
            if !session.inputs().iter().any(|i| i.name() == input) {
                return Err(load_error(format!(
                    "the manifest lists input `{input}`, the model has {:?}",
                    session
                        .inputs()
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                )));
            }
        }
        if !session.outputs().iter().any(|o| o.name() == spec.output) {
            return Err(load_error(format!(
                "the manifest names output `{}`, the model has {:?}",
                spec.output,
                session
                    .outputs()
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
            )));
        }
        // Tokenise on the model's thread only: rayon's parallel tokenising competes for the
        // cores with ONNX Runtime's own threads (measured: 13% fewer texts/s under load).
        tokenizers::utils::parallelism::set_parallelism(false);
        let tokenizer = load_tokenizer(tokenizer_path, spec.max_length).map_err(load_error)?;
        let info = Arc::new(ModelInfo::from(&spec));
        let (queue, receiver) = std::sync::mpsc::sync_channel(settings.queue);
        let worker = Worker {
            session,
            tokenizer,
            spec,
            settings,
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name(format!("model-{}", info.name))
            .spawn(move || worker.run(receiver))
            .map_err(|e| load_error(format!("failed to start its thread: {e}")))?;
        Ok(Self {
            info,
            queue,
            metrics,
        })
    }

    /// What this model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// One vector per text, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError> {
        self.embed_as("", texts).await
    }

    /// [`Embedder::embed`] for `caller`: the model's thread serves callers in turn, so one that
    /// asks for much cannot hold back the others.
    pub async fn embed_as(
        &self,
        caller: &str,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let name = &self.info.name;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.metrics.requests.with_label_values(&[name]).inc();
        self.metrics
            .texts
            .with_label_values(&[name])
            .inc_by(texts.len() as u64);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            texts,
            reply,
            enqueued: Instant::now(),
            caller: Arc::from(caller),
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.rejected.with_label_values(&[name]).inc();
                return Err(InferenceError::Overloaded(name.clone()));
            }
            Err(TrySendError::Disconnected(_)) => return Err(InferenceError::Closed(name.clone())),
        }
        answer
            .await
            .map_err(|_| InferenceError::Closed(name.clone()))?
    }

    /// The vector of one text.
    pub async fn embed_one(&self, text: &str) -> Result<Vec<f32>, InferenceError> {
        let mut vectors = self.embed(vec![text.to_owned()]).await?;
        vectors
            .pop()
            .ok_or_else(|| InferenceError::Closed(self.info.name.clone()))
    }
}

/// Something that turns texts into vectors: a model in this process ([`Embedder`]) or one
/// served by inference workers elsewhere.
#[async_trait::async_trait]
pub trait Embeddings: Send + Sync + 'static {
    /// What the model is.
    fn info(&self) -> &ModelInfo;

    /// One unit vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError>;

    /// [`Embeddings::embed`] on behalf of `caller`, for models that share their time fairly
    /// between callers; others ignore who asks.
    async fn embed_as(
        &self,
        _caller: &str,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        self.embed(texts).await
    }
}

/// Embeddings charged to one caller: hand it to code that only knows [`Embeddings::embed`]
/// (the summariser) so its model work is queued in that caller's lane.
pub struct ForCaller {
    inner: Arc<dyn Embeddings>,
    caller: String,
}

impl ForCaller {
    /// `inner`, on behalf of `caller`.
    pub fn new(inner: Arc<dyn Embeddings>, caller: impl Into<String>) -> Self {
        Self {
            inner,
            caller: caller.into(),
        }
    }
}

#[async_trait::async_trait]
impl Embeddings for ForCaller {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError> {
        self.inner.embed_as(&self.caller, texts).await
    }
}

#[async_trait::async_trait]
impl Embeddings for Embedder {
    fn info(&self) -> &ModelInfo {
        Embedder::info(self)
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError> {
        Embedder::embed(self, texts).await
    }

    async fn embed_as(
        &self,
        caller: &str,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        Embedder::embed_as(self, caller, texts).await
    }
}

/// The model's thread.
struct Worker {
    session: Session,
    tokenizer: Tokenizer,
    spec: ModelSpec,
    settings: BatchSettings,
    metrics: InferenceMetrics,
}

impl Worker {
    fn run(mut self, queue: Receiver<Job>) {
        let max_batch = self.settings.max_batch;
        let mut waiting: FairQueue<Job> = FairQueue::new();
        loop {
            if waiting.is_empty() {
                // Ends when every `Embedder` handle is gone and nothing is left to serve.
                let Ok(first) = queue.recv() else { break };
                self.admit(&mut waiting, first);
                // Others may join until the deadline or a full batch.
                let deadline = Instant::now() + self.settings.max_wait;
                while waiting.texts_left() < max_batch {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let next = match queue.try_recv() {
                        Ok(job) => Some(job),
                        Err(TryRecvError::Empty) if !left.is_zero() => {
                            queue.recv_timeout(left).ok()
                        }
                        Err(_) => None,
                    };
                    let Some(job) = next else { break };
                    self.admit(&mut waiting, job);
                }
            }
            // Whatever else arrived meanwhile joins its caller's lane, within the queue bound.
            while waiting.len() < self.settings.queue {
                match queue.try_recv() {
                    Ok(job) => self.admit(&mut waiting, job),
                    Err(_) => break,
                }
            }
            let abandoned = waiting.drop_abandoned().len();
            if abandoned > 0 {
                self.metrics
                    .abandoned
                    .with_label_values(&[&self.spec.name])
                    .inc_by(abandoned as u64);
            }
            let plan = waiting.plan(max_batch);
            if !plan.is_empty() {
                self.serve(&mut waiting, plan);
            }
        }
        debug!(model = %self.spec.name, "model thread stopped");
    }

    fn admit(&self, waiting: &mut FairQueue<Job>, job: Job) {
        waiting.push(job.caller.clone(), job);
    }

    /// Runs one batch made of `plan`'s slices and answers every call it completes.
    fn serve(&mut self, waiting: &mut FairQueue<Job>, plan: Vec<Slice>) {
        let name = self.spec.name.clone();
        let started = Instant::now();
        for slice in plan.iter().filter(|s| s.start == 0) {
            if let Some(job) = waiting.call(slice.id) {
                self.metrics
                    .queue_wait
                    .with_label_values(&[&name])
                    .observe(started.duration_since(job.enqueued).as_secs_f64());
            }
        }
        let result = {
            let texts: Vec<&str> = plan
                .iter()
                .filter_map(|slice| {
                    let job = waiting.call(slice.id)?;
                    Some(job.texts[slice.start..slice.start + slice.len].iter())
                })
                .flatten()
                .map(String::as_str)
                .collect();
            self.metrics
                .batch_size
                .with_label_values(&[&name])
                .observe(texts.len() as f64);
            self.infer(&texts)
        };
        self.metrics
            .run_seconds
            .with_label_values(&[&name])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for slice in plan {
                    let done = waiting.complete(slice, vectors.by_ref().take(slice.len));
                    if let Some((job, vectors)) = done {
                        // A caller that gave up no longer listens; nothing to do.
                        let _ = job.reply.send(Ok(vectors));
                    }
                }
            }
            Err(reason) => {
                error!(model = %name, %reason, "inference failed");
                for slice in plan {
                    if let Some(job) = waiting.fail(slice.id) {
                        let _ = job.reply.send(Err(InferenceError::Run {
                            model: name.clone(),
                            reason: reason.clone(),
                        }));
                    }
                }
            }
        }
    }

    /// Tokenises, runs and pools one batch.
    fn infer(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenising: {e}"))?;
        let batch = encodings.len();
        let sequence = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(batch * sequence);
        let mut mask = Vec::with_capacity(batch * sequence);
        let mut types = Vec::with_capacity(batch * sequence);
        for encoding in &encodings {
            ids.extend(encoding.get_ids().iter().map(|&v| i64::from(v)));
            mask.extend(encoding.get_attention_mask().iter().map(|&v| i64::from(v)));
            types.extend(encoding.get_type_ids().iter().map(|&v| i64::from(v)));
        }
        let shape = vec![batch as i64, sequence as i64];
        let mut inputs = Vec::with_capacity(self.spec.inputs.len());
        for name in &self.spec.inputs {
            let data = match name.as_str() {
                "input_ids" => ids.clone(),
                "attention_mask" => mask.clone(),
                _ => types.clone(),
            };
            let tensor = Tensor::from_array((shape.clone(), data)).map_err(|e| e.to_string())?;
            inputs.push((name.clone(), tensor));
        }
        let outputs = self.session.run(inputs).map_err(|e| e.to_string())?;
        let output = outputs
            .get(&self.spec.output)
            .ok_or_else(|| format!("the model gave no `{}`", self.spec.output))?;
        let (shape, states) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let dimension = self.spec.dimension;
        let mut vectors = Vec::with_capacity(batch);
        for row in 0..batch {
            let mut vector: Vec<f32> = match (self.spec.pooling, shape.as_slice()) {
                (Pooling::None, &[rows, width]) if rows == batch => {
                    states[row * width..(row + 1) * width].to_vec()
                }
                (Pooling::Cls, &[rows, tokens, width]) if rows == batch => {
                    let at = row * tokens * width;
                    states[at..at + width].to_vec()
                }
                (Pooling::Mean, &[rows, tokens, width]) if rows == batch && tokens == sequence => {
                    let mut sum = vec![0.0f32; width];
                    let mut count = 0.0f32;
                    for token in 0..tokens {
                        if mask[row * sequence + token] == 0 {
                            continue;
                        }
                        count += 1.0;
                        let at = (row * tokens + token) * width;
                        for (s, v) in sum.iter_mut().zip(&states[at..at + width]) {
                            *s += v;
                        }
                    }
                    let count = count.max(1e-9);
                    sum.iter().map(|s| s / count).collect()
                }
                (pooling, shape) => {
                    return Err(format!(
                        "pooling {pooling:?} does not fit an output of shape {shape:?}"
                    ));
                }
            };
            if vector.len() != dimension {
                return Err(format!(
                    "the model gives vectors of {}, the manifest says {dimension}",
                    vector.len()
                ));
            }
            if self.spec.normalize {
                normalize(&mut vector);
            }
            vectors.push(vector);
        }
        Ok(vectors)
    }
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 1e-12 {
        for v in vector.iter_mut() {
            *v /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalised_vectors_have_unit_length_and_zero_stays_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }
}
