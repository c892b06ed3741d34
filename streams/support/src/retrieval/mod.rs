//! Hybrid FAQ retrieval: which entries answer a customer's message, lexical, dense and fused.
//!
//! Every question variant and every answer of every entry is a *passage*. [`lexical`] scores
//! passages with BM25 in their own language; [`dense`] with the cosine of sentence embeddings
//! (the inference crate's model, so a multilingual encoder finds an English entry for a German
//! question). An entry's score in each is its best passage's, and entries are ranked by id:
//! the languages of one entry are one result.
//!
//! Fusion has to earn its place. Reciprocal-rank fusion treats a weak lexical ranking as an
//! equal voter and can score below dense alone on short questions; a weighted sum lets the
//! lexical signal only break near-ties. Which to use, and the weight, is not a constant tuned
//! to one data set: [`FaqIndex::calibrate`] picks it on the knowledge base itself, by asking
//! each question variant against the rest (leave-one-out), and keeps dense alone when nothing
//! beats it there.

pub mod combiner;
pub mod dense;
mod fusion;
pub mod lexical;
mod metrics;

use finpulse_core::support::FaqEntry;
use std::collections::HashMap;

pub use combiner::Combiner;
pub use dense::DenseModel;
pub use fusion::Fusion;
use fusion::{
    CANDIDATES, COMBINER_EPOCHS, COMBINER_L2, DEFAULT_FUSION, MIN_CALIBRATION_QUERIES, Scores,
    cross_validate_combiner, rank, training_examples,
};
pub use lexical::LexicalIndex;
pub use metrics::{Metrics, RankOutcome};

use crate::SupportError;

/// What a passage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassageKind {
    /// The entry's n-th question variant.
    Question(usize),
    /// The entry's answer.
    Answer,
}

/// One indexed text of one entry.
#[derive(Debug, Clone, Copy)]
pub struct Passage {
    /// Position of the entry (language version) in [`FaqIndex::entries`].
    pub entry: usize,
    /// Position of the entry's id in the index's id list.
    id: usize,
    /// Question or answer.
    pub kind: PassageKind,
}

/// One entry (by id) a query retrieved.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The entry's id.
    pub id: String,
    /// Its score under the ranking it came from (higher is better).
    pub score: f32,
    /// Its best BM25 over the query's best BM25, when any passage matched lexically.
    pub lexical: Option<f32>,
    /// Its best cosine, when dense retrieval ran.
    pub dense: Option<f32>,
    /// The passage that matched best (densely when dense ran, lexically otherwise).
    pub passage: usize,
    /// How sure a match it is, comparable across queries of one index: its primary dense
    /// cosine when dense ran, else its best BM25 per query word.
    pub confidence: f32,
}

/// The three rankings of one query.
#[derive(Debug, Clone, Default)]
pub struct Rankings {
    /// BM25 alone.
    pub lexical: Vec<Ranked>,
    /// Dense alone (empty without a model).
    pub dense: Vec<Ranked>,
    /// The index's fusion of both.
    pub fused: Vec<Ranked>,
}

/// The knowledge base ready to be searched.
pub struct FaqIndex {
    entries: Vec<FaqEntry>,
    ids: Vec<String>,
    passages: Vec<Passage>,
    lexical: LexicalIndex,
    /// Per dense model, one unit vector per passage.
    vectors: Vec<Vec<Vec<f32>>>,
    /// The dense models, the primary (the one `dense` rankings and fixed fusions use) first.
    models: Vec<DenseModel>,
    fusion: Fusion,
}

impl std::fmt::Debug for FaqIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaqIndex")
            .field("entries", &self.entries.len())
            .field("passages", &self.passages.len())
            .field("dense_models", &self.models.len())
            .field("fusion", &self.fusion)
            .finish()
    }
}

/// Builds the passage list of `entries`: every question variant, then the answer.
fn passages_of(entries: &[FaqEntry]) -> (Vec<String>, Vec<Passage>) {
    let mut ids: Vec<String> = Vec::new();
    let mut id_positions: HashMap<&str, usize> = HashMap::new();
    let mut passages = Vec::new();
    for (entry_position, entry) in entries.iter().enumerate() {
        let id = *id_positions.entry(entry.id.as_str()).or_insert_with(|| {
            ids.push(entry.id.clone());
            ids.len() - 1
        });
        for question in 0..entry.questions.len() {
            passages.push(Passage {
                entry: entry_position,
                id,
                kind: PassageKind::Question(question),
            });
        }
        passages.push(Passage {
            entry: entry_position,
            id,
            kind: PassageKind::Answer,
        });
    }
    (ids, passages)
}

impl FaqIndex {
    /// Indexes `entries`: lexically always, densely with each of `models` (their embeddings
    /// of every passage are computed now; the first is the primary). The fusion starts at a
    /// default; call [`FaqIndex::calibrate`] to fit it to the knowledge base.
    pub async fn build(
        entries: Vec<FaqEntry>,
        models: Vec<DenseModel>,
    ) -> Result<Self, SupportError> {
        let (ids, passages) = passages_of(&entries);
        let texts: Vec<(String, String)> = passages
            .iter()
            .map(|passage| {
                let entry = &entries[passage.entry];
                (
                    entry.language.clone(),
                    passage_text(entry, passage.kind).to_owned(),
                )
            })
            .collect();
        let lexical_texts = texts.clone();
        let lexical = tokio::task::spawn_blocking(move || {
            LexicalIndex::build(
                lexical_texts
                    .iter()
                    .map(|(language, text)| (language.as_str(), text.as_str())),
            )
        })
        .await
        .map_err(|error| SupportError::Index(format!("lexical indexing panicked: {error}")))??;
        let passage_texts: Vec<String> = texts.into_iter().map(|(_, text)| text).collect();
        let mut vectors = Vec::with_capacity(models.len());
        for model in &models {
            vectors.push(model.embed_passages(passage_texts.clone()).await?);
        }
        let fusion = if !models.is_empty() {
            DEFAULT_FUSION
        } else {
            Fusion::Lexical
        };
        Ok(Self {
            entries,
            ids,
            passages,
            lexical,
            vectors,
            models,
            fusion,
        })
    }

    /// The indexed entries (every language version), in the order given.
    pub fn entries(&self) -> &[FaqEntry] {
        &self.entries
    }

    /// A passage by its position (as [`Ranked::passage`] names it).
    pub fn passage(&self, position: usize) -> Option<&Passage> {
        self.passages.get(position)
    }

    /// The text of a passage.
    pub fn passage_text(&self, position: usize) -> Option<&str> {
        let passage = self.passages.get(position)?;
        Some(passage_text(&self.entries[passage.entry], passage.kind))
    }

    /// The fusion in use.
    pub fn fusion(&self) -> Fusion {
        self.fusion
    }

    /// Uses `fusion` from now on.
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// True when dense retrieval runs.
    pub fn is_dense(&self) -> bool {
        !self.models.is_empty()
    }

    /// Picks the fusion that ranks best on the knowledge base itself: each question variant of
    /// an entry with more than one passage is asked with that variant left out, and the
    /// candidate with the best MRR@5 is kept (the simplest on a tie). Returns what was tried
    /// and how each scored; too few variants (fewer than 20 such questions) keep the default.
    pub async fn calibrate(&mut self) -> Result<Calibration, SupportError> {
        if self.models.is_empty() {
            return Ok(Calibration {
                queries: 0,
                tried: Vec::new(),
                chosen: self.fusion,
            });
        }
        let held_out = self.held_out_positions();
        if held_out.len() < MIN_CALIBRATION_QUERIES {
            return Ok(Calibration {
                queries: held_out.len(),
                tried: Vec::new(),
                chosen: self.fusion,
            });
        }
        let mut scored: Vec<(Fusion, Vec<RankOutcome>)> = CANDIDATES
            .iter()
            .map(|fusion| (*fusion, Vec::with_capacity(held_out.len())))
            .collect();
        let mut examples: Vec<(usize, Vec<(usize, combiner::Features)>)> = Vec::new();
        for (&position, scores) in held_out.iter().zip(self.held_out_scores(&held_out).await?) {
            let target = self.passages[position].id;
            examples.push((target, fusion::combiner_candidates(&scores)));
            for (fusion, outcomes) in &mut scored {
                let ranking = rank(&scores, *fusion);
                outcomes.push(RankOutcome::of(
                    ranking.iter().position(|ranked| ranked.0 == target),
                ));
            }
        }
        let mut tried: Vec<(Fusion, Metrics)> = scored
            .into_iter()
            .map(|(fusion, outcomes)| (fusion, Metrics::of(&outcomes)))
            .collect();
        if let Some(learned) = cross_validate_combiner(&examples) {
            tried.push(learned);
        }
        let mut best = tried[0];
        for candidate in &tried[1..] {
            if candidate.1.mrr5 > best.1.mrr5 + 1e-9 {
                best = *candidate;
            }
        }
        self.fusion = match best.0 {
            // Cross-validation chose the combiner; serve one fitted on every question.
            Fusion::Learned(_) => Fusion::Learned(Combiner::fit(
                &training_examples(examples.iter()),
                COMBINER_L2,
                COMBINER_EPOCHS,
            )),
            other => other,
        };
        best.0 = self.fusion;
        Ok(Calibration {
            queries: held_out.len(),
            tried,
            chosen: best.0,
        })
    }

    /// The question variants calibration can ask: those of entries with another passage left
    /// when they are taken out.
    fn held_out_positions(&self) -> Vec<usize> {
        (0..self.passages.len())
            .filter(|&position| {
                let passage = &self.passages[position];
                matches!(passage.kind, PassageKind::Question(_))
                    && self
                        .passages
                        .iter()
                        .enumerate()
                        .any(|(other, p)| other != position && p.id == passage.id)
            })
            .collect()
    }

    /// The scores of each passage at `held_out` asked as a question with itself left out, as
    /// a customer would ask it (the models' query prefixes, where they have one).
    async fn held_out_scores(&self, held_out: &[usize]) -> Result<Vec<Scores>, SupportError> {
        let texts: Vec<String> = held_out
            .iter()
            .map(|&position| self.passage_text(position).unwrap_or_default().to_owned())
            .collect();
        let query_vectors = self.embed_queries(texts.clone()).await?;
        let mut out = Vec::with_capacity(held_out.len());
        for (query, (&position, text)) in held_out.iter().zip(&texts).enumerate() {
            let vectors: Vec<&[f32]> = query_vectors
                .iter()
                .map(|per_model| per_model[query].as_slice())
                .collect();
            out.push(self.scores(text, &vectors, Some(position))?);
        }
        Ok(out)
    }

    /// Every question variant calibration asks, asked with itself left out and ranked by the
    /// fusion in use (the best `k`): the id it should find, beside what was found. The
    /// responder sets its confidence thresholds from these.
    pub async fn held_out_rankings(
        &self,
        k: usize,
    ) -> Result<Vec<(String, Vec<Ranked>)>, SupportError> {
        let held_out = self.held_out_positions();
        let mut out = Vec::with_capacity(held_out.len());
        for (&position, scores) in held_out.iter().zip(self.held_out_scores(&held_out).await?) {
            let fusion = if scores.dense.is_empty() {
                Fusion::Lexical
            } else {
                self.fusion
            };
            let ranking = rank(&scores, fusion)
                .into_iter()
                .take(k)
                .map(|(id, score)| self.ranked(&scores, id, score))
                .collect();
            out.push((self.ids[self.passages[position].id].clone(), ranking));
        }
        Ok(out)
    }

    /// The best `k` entries for `query`, lexical, dense and fused.
    pub async fn search(&self, query: &str, k: usize) -> Result<Rankings, SupportError> {
        let mut vectors = Vec::with_capacity(self.models.len());
        for model in &self.models {
            vectors.push(model.embed_query(query).await?);
        }
        let vectors: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        self.search_with_vectors(query, &vectors, k)
    }

    /// [`FaqIndex::search`] with the query's embeddings already computed, one per dense model
    /// in the index's order (many queries embed faster as one batch); none searches lexically.
    pub fn search_with_vectors(
        &self,
        query: &str,
        vectors: &[&[f32]],
        k: usize,
    ) -> Result<Rankings, SupportError> {
        let scores = self.scores(query, vectors, None)?;
        let dense_ran = !scores.dense.is_empty();
        let to_ranked = |ranking: Vec<(usize, f32)>| -> Vec<Ranked> {
            ranking
                .into_iter()
                .take(k)
                .map(|(id, score)| self.ranked(&scores, id, score))
                .collect()
        };
        let dense = if dense_ran {
            to_ranked(rank(&scores, Fusion::Dense))
        } else {
            Vec::new()
        };
        let fusion = if dense_ran {
            self.fusion
        } else {
            Fusion::Lexical
        };
        Ok(Rankings {
            lexical: to_ranked(rank(&scores, Fusion::Lexical)),
            dense,
            fused: to_ranked(rank(&scores, fusion)),
        })
    }

    /// Each dense model's embeddings of `queries` as customers' questions: `[model][query]`.
    pub async fn embed_queries(
        &self,
        queries: Vec<String>,
    ) -> Result<Vec<Vec<Vec<f32>>>, SupportError> {
        let mut out = Vec::with_capacity(self.models.len());
        for model in &self.models {
            out.push(model.embed_queries(queries.clone()).await?);
        }
        Ok(out)
    }

    /// The dense models' names, the primary first.
    pub fn model_names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name().to_owned()).collect()
    }

    fn ranked(&self, scores: &Scores, id: usize, score: f32) -> Ranked {
        let best_lexical = scores
            .lexical
            .values()
            .map(|(score, _)| *score)
            .fold(0.0_f32, f32::max);
        let lexical = scores.lexical.get(&id);
        let dense = scores.dense.first().and_then(|primary| primary.get(&id));
        let confidence = match (dense, lexical) {
            (Some((cosine, _)), _) => *cosine,
            (None, Some((bm25, _))) => bm25 / scores.query_words.max(1) as f32,
            (None, None) => 0.0,
        };
        Ranked {
            id: self.ids[id].clone(),
            score,
            lexical: lexical.map(|(score, _)| score / best_lexical.max(f32::MIN_POSITIVE)),
            dense: dense.map(|(score, _)| *score),
            passage: dense.or(lexical).map(|(_, passage)| *passage).unwrap_or(0),
            confidence,
        }
    }

    /// Each id's best lexical and dense score, leaving out one passage (calibration).
    fn scores(
        &self,
        query: &str,
        vectors: &[&[f32]],
        excluded: Option<usize>,
    ) -> Result<Scores, SupportError> {
        let mut scores = Scores {
            query_words: query
                .split(|c: char| !c.is_alphanumeric())
                .filter(|word| !word.is_empty())
                .count(),
            ..Scores::default()
        };
        for (position, score) in self.lexical.search(query, self.passages.len())? {
            if Some(position) == excluded {
                continue;
            }
            let id = self.passages[position].id;
            let best = scores.lexical.entry(id).or_insert((score, position));
            if score > best.0 {
                *best = (score, position);
            }
        }
        for (vector, passage_vectors) in vectors.iter().zip(&self.vectors) {
            let mut per_id: HashMap<usize, (f32, usize)> = HashMap::new();
            for (position, passage_vector) in passage_vectors.iter().enumerate() {
                if Some(position) == excluded {
                    continue;
                }
                let cosine = dense::dot(vector, passage_vector);
                let id = self.passages[position].id;
                let best = per_id.entry(id).or_insert((cosine, position));
                if cosine > best.0 {
                    *best = (cosine, position);
                }
            }
            scores.dense.push(per_id);
        }
        Ok(scores)
    }
}

fn passage_text(entry: &FaqEntry, kind: PassageKind) -> &str {
    match kind {
        PassageKind::Question(n) => entry.questions.get(n).map(String::as_str).unwrap_or(""),
        PassageKind::Answer => &entry.answer,
    }
}

/// What [`FaqIndex::calibrate`] tried and kept.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// How many leave-one-out questions it asked.
    pub queries: usize,
    /// Each candidate with its scores (empty when it did not calibrate).
    pub tried: Vec<(Fusion, Metrics)>,
    /// The fusion in use now.
    pub chosen: Fusion,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, language: &str, questions: &[&str], answer: &str) -> FaqEntry {
        FaqEntry {
            id: id.into(),
            language: language.into(),
            intent: String::new(),
            tags: Vec::new(),
            questions: questions.iter().map(|q| q.to_string()).collect(),
            answer: answer.into(),
        }
    }

    fn kb() -> Vec<FaqEntry> {
        vec![
            entry(
                "card-declined",
                "en",
                &["Why was my card declined?", "My card payment failed"],
                "Payments fail when the card is blocked or the limit is reached.",
            ),
            entry(
                "card-declined",
                "de",
                &["Warum wurde meine Karte abgelehnt?"],
                "Zahlungen schlagen fehl, wenn die Karte gesperrt ist.",
            ),
            entry(
                "reset-password",
                "en",
                &["How do I reset my password?"],
                "Open the app's sign-in screen and choose 'Forgot password'.",
            ),
        ]
    }

    #[tokio::test]
    async fn languages_of_one_entry_are_one_result() {
        let index = FaqIndex::build(kb(), Vec::new()).await.unwrap();
        let rankings = index
            .search("karte abgelehnt card declined", 5)
            .await
            .unwrap();
        let ids: Vec<&str> = rankings.fused.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["card-declined"], "{rankings:?}");
        // Without a model the index is lexical only.
        assert!(rankings.dense.is_empty());
        assert_eq!(index.fusion(), Fusion::Lexical);
    }

    #[tokio::test]
    async fn the_passage_named_is_the_one_that_matched() {
        let index = FaqIndex::build(kb(), Vec::new()).await.unwrap();
        let rankings = index.search("forgot password", 5).await.unwrap();
        let best = &rankings.fused[0];
        assert_eq!(best.id, "reset-password");
        assert_eq!(
            index.passage_text(best.passage),
            Some("Open the app's sign-in screen and choose 'Forgot password'.")
        );
        assert_eq!(best.lexical, Some(1.0));
    }
}
