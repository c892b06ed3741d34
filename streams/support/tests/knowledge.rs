//! Re-indexing after an edit of the knowledge base embeds only what changed: the dense model
//! (the real MiniLM of `make models`) remembers the vectors of unchanged passages, and an
//! index rebuilt from remembered vectors ranks exactly as one embedded afresh; a message read
//! twice in a row (its tone, then its answer) is embedded once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use finpulse_inference::{
    Embeddings, Inference, InferenceConfig, InferenceError, InferenceMetrics, ModelInfo,
};
use finpulse_support::faq;
use finpulse_support::retrieval::{DenseModel, FaqIndex};

/// The real model, counting the texts it is asked to embed.
struct Counted {
    inner: Arc<dyn Embeddings>,
    texts: AtomicUsize,
}

#[async_trait]
impl Embeddings for Counted {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, InferenceError> {
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        self.inner.embed(texts).await
    }
}

fn minilm() -> Arc<Counted> {
    let config = InferenceConfig {
        manifest: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models.toml"),
        ..InferenceConfig::default()
    };
    let inference = Inference::load(&config, &InferenceMetrics::unregistered())
        .expect("models load (run `make models`)");
    Arc::new(Counted {
        inner: Arc::new(inference.embedder(None).expect("the default model")),
        texts: AtomicUsize::new(0),
    })
}

async fn top_ids(index: &FaqIndex, query: &str) -> Vec<String> {
    index
        .search(query, 5)
        .await
        .unwrap()
        .dense
        .into_iter()
        .map(|ranked| ranked.id)
        .collect()
}

#[tokio::test]
async fn a_rebuild_embeds_only_the_passages_that_changed() {
    let counted = minilm();
    let model = DenseModel::new(counted.clone());
    let mut entries: Vec<_> = faq::demo()
        .into_iter()
        .filter(|entry| entry.language == "en")
        .take(20)
        .collect();
    let passages: usize = entries.iter().map(|e| e.questions.len() + 1).sum();

    let first = FaqIndex::build(entries.clone(), vec![model.clone()])
        .await
        .unwrap();
    let embedded = counted.texts.load(Ordering::SeqCst);
    assert!(
        embedded > 0 && embedded <= passages,
        "{embedded} of {passages}"
    );
    let query = "my card was declined in a shop";
    let before = top_ids(&first, query).await;

    // The same knowledge base again: nothing embedded, not even the query (asked a moment
    // ago, it is among the recent ones).
    counted.texts.store(0, Ordering::SeqCst);
    let same = FaqIndex::build(entries.clone(), vec![model.clone()])
        .await
        .unwrap();
    assert_eq!(counted.texts.load(Ordering::SeqCst), 0);
    assert_eq!(top_ids(&same, query).await, before);
    assert_eq!(counted.texts.load(Ordering::SeqCst), 0);

    // One answer changed and one question added: two new texts.
    counted.texts.store(0, Ordering::SeqCst);
    entries[3]
        .answer
        .push_str(" Ask us in the chat if anything is unclear.");
    entries[5]
        .questions
        .push("Is there a fee when I use the card abroad?".into());
    let edited = FaqIndex::build(entries.clone(), vec![model.clone()])
        .await
        .unwrap();
    assert_eq!(counted.texts.load(Ordering::SeqCst), 2);

    // Rebuilt from remembered vectors, it ranks as a model with no memory does.
    let fresh = DenseModel::new(minilm());
    let afresh = FaqIndex::build(entries, vec![fresh]).await.unwrap();
    for query in [query, "is there a fee abroad", "how do I reset my password"] {
        assert_eq!(
            top_ids(&edited, query).await,
            top_ids(&afresh, query).await,
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_message_read_twice_is_embedded_once() {
    let counted = minilm();
    let model = DenseModel::new(counted.clone());
    // The processor's clone for the tone and the responder's share what they embedded.
    let tone = model.clone();
    let message = "why was my card payment declined";
    let first = tone.embed_query(message).await.unwrap();
    let again = model.embed_query(message).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(counted.texts.load(Ordering::SeqCst), 1);
    // Only the last few are kept: 40 other messages later it is embedded anew.
    for n in 0..40 {
        model.embed_query(&format!("question {n}")).await.unwrap();
    }
    assert_eq!(counted.texts.load(Ordering::SeqCst), 41);
    model.embed_query(message).await.unwrap();
    assert_eq!(counted.texts.load(Ordering::SeqCst), 42);
}

#[tokio::test]
async fn a_restart_reads_the_knowledge_bases_vectors_from_the_cache() {
    let entries: Vec<_> = faq::demo()
        .into_iter()
        .filter(|entry| entry.language == "en")
        .take(10)
        .collect();
    let first = DenseModel::new(minilm());
    let built = FaqIndex::build(entries.clone(), vec![first.clone()])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(first.memory_file_name());
    let saved = first.save_memory(&path).unwrap();
    assert!(saved > 0);

    // The next start: a fresh model reads the file and embeds nothing to index.
    let counted = minilm();
    let next = DenseModel::new(counted.clone());
    assert_eq!(next.memory_file_name(), first.memory_file_name());
    assert_eq!(next.load_memory(&path).unwrap(), saved);
    let rebuilt = FaqIndex::build(entries, vec![next]).await.unwrap();
    assert_eq!(counted.texts.load(Ordering::SeqCst), 0);
    let query = "my card was declined in a shop";
    assert_eq!(top_ids(&rebuilt, query).await, top_ids(&built, query).await);

    // A damaged file is refused whole, and the memory is untouched.
    std::fs::write(&path, b"not vectors").unwrap();
    let fresh = DenseModel::new(minilm());
    assert!(fresh.load_memory(&path).is_err());
}
