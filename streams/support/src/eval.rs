//! `finpulse eval faq`: how well retrieval finds the right entry for labelled questions.
//!
//! The knowledge base is indexed as serving indexes it, the fusion is calibrated on the
//! knowledge base alone (leave-one-out over its question variants; the labelled queries are
//! never seen by the calibration), then every query is asked and the right id's rank is read
//! off the lexical, dense and fused rankings. Queries are also grouped by their detected
//! language, so cross-lingual retrieval (a German question, an English-only entry) shows
//! beside monolingual.

use std::collections::{BTreeMap, HashSet};

use finpulse_core::support::FaqEntry;
use serde::Serialize;

use crate::SupportError;
use crate::retrieval::{Calibration, DenseModel, FaqIndex, Metrics, RankOutcome, Ranked};

/// Queries embedded per model call.
const BATCH: usize = 64;

/// Rankings read per query: enough for MRR@5 and recall@5.
const DEPTH: usize = 5;

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct FaqEvaluation {
    /// The fused ranking (what the responder uses).
    pub fused: Metrics,
    /// BM25 alone.
    pub lexical: Metrics,
    /// Dense alone.
    pub dense: Metrics,
    /// Queries asked.
    pub queries: usize,
    /// Queries whose id is not in the knowledge base (counted as misses).
    pub unknown_ids: usize,
    /// What the calibration tried and kept.
    pub calibration: Calibration,
    /// The same three, per detected query language, and whether the query's language had an
    /// entry version for its id (`monolingual`) or not (`cross-lingual`).
    pub groups: BTreeMap<String, GroupMetrics>,
    /// The dense models' names, the primary first.
    pub model: String,
}

/// Metrics of one group of queries.
#[derive(Debug, Clone, Serialize)]
pub struct GroupMetrics {
    /// Queries in the group.
    pub queries: usize,
    /// Fused.
    pub fused: Metrics,
    /// Lexical.
    pub lexical: Metrics,
    /// Dense.
    pub dense: Metrics,
}

/// The JSON `finpulse eval faq --json` prints: the fused figures at the top level, lexical and
/// dense beside them.
#[derive(Debug, Serialize)]
pub struct FaqEvaluationJson {
    /// Fused MRR@5.
    pub mrr5: f64,
    /// Fused recall@1.
    pub recall1: f64,
    /// Fused recall@5.
    pub recall5: f64,
    /// BM25 alone.
    pub lexical: Metrics,
    /// Dense alone.
    pub dense: Metrics,
}

impl From<&FaqEvaluation> for FaqEvaluationJson {
    fn from(evaluation: &FaqEvaluation) -> Self {
        Self {
            mrr5: evaluation.fused.mrr5,
            recall1: evaluation.fused.recall1,
            recall5: evaluation.fused.recall5,
            lexical: evaluation.lexical,
            dense: evaluation.dense,
        }
    }
}

#[derive(Default)]
struct Outcomes {
    fused: Vec<RankOutcome>,
    lexical: Vec<RankOutcome>,
    dense: Vec<RankOutcome>,
}

impl Outcomes {
    fn push(&mut self, id: &str, fused: &[Ranked], lexical: &[Ranked], dense: &[Ranked]) {
        let rank = |list: &[Ranked]| RankOutcome::of(list.iter().position(|r| r.id == id));
        self.fused.push(rank(fused));
        self.lexical.push(rank(lexical));
        self.dense.push(rank(dense));
    }

    fn metrics(&self) -> GroupMetrics {
        GroupMetrics {
            queries: self.fused.len(),
            fused: Metrics::of(&self.fused),
            lexical: Metrics::of(&self.lexical),
            dense: Metrics::of(&self.dense),
        }
    }
}

/// Indexes `entries` with `models` (the first is the primary dense model, the one `dense`
/// reports), calibrates, and asks every `(query, id)`; `progress` is told how many queries
/// are done after each batch.
pub async fn evaluate_faq(
    entries: Vec<FaqEntry>,
    queries: &[(String, String)],
    models: Vec<DenseModel>,
    progress: impl Fn(usize),
) -> Result<FaqEvaluation, SupportError> {
    if entries.is_empty() {
        return Err(SupportError::InvalidInput(
            "the FAQ file holds no entries".into(),
        ));
    }
    if queries.is_empty() {
        return Err(SupportError::InvalidInput(
            "the queries file holds no queries".into(),
        ));
    }
    let known: HashSet<String> = entries.iter().map(|e| e.id.clone()).collect();
    let versions: HashSet<(String, String)> = entries
        .iter()
        .map(|e| (e.id.clone(), e.language.clone()))
        .collect();
    if models.is_empty() {
        return Err(SupportError::InvalidInput(
            "dense retrieval needs an embedding model".into(),
        ));
    }
    let mut index = FaqIndex::build(entries, models).await?;
    let model_name = index.model_names().join(" + ");
    let calibration = index.calibrate().await?;
    let mut all = Outcomes::default();
    let mut groups: BTreeMap<String, Outcomes> = BTreeMap::new();
    let mut done = 0;
    for batch in queries.chunks(BATCH) {
        let texts: Vec<String> = batch.iter().map(|(query, _)| query.clone()).collect();
        let vectors = index.embed_queries(texts).await?;
        for (position, (query, id)) in batch.iter().enumerate() {
            let query_vectors: Vec<&[f32]> = vectors
                .iter()
                .map(|per_model| per_model[position].as_slice())
                .collect();
            let rankings = index.search_with_vectors(query, &query_vectors, DEPTH)?;
            all.push(id, &rankings.fused, &rankings.lexical, &rankings.dense);
            let language = finpulse_inference::language::detect(query)
                .map(|l| l.code)
                .unwrap_or("und");
            let kind = if versions.contains(&(id.clone(), language.to_owned())) {
                "monolingual"
            } else {
                "cross-lingual"
            };
            groups
                .entry(format!("{language} {kind}"))
                .or_default()
                .push(id, &rankings.fused, &rankings.lexical, &rankings.dense);
        }
        done += batch.len();
        progress(done);
    }
    let overall = all.metrics();
    Ok(FaqEvaluation {
        fused: overall.fused,
        lexical: overall.lexical,
        dense: overall.dense,
        queries: queries.len(),
        unknown_ids: queries.iter().filter(|(_, id)| !known.contains(id)).count(),
        calibration,
        groups: groups
            .into_iter()
            .map(|(name, outcomes)| (name, outcomes.metrics()))
            .collect(),
        model: model_name,
    })
}
