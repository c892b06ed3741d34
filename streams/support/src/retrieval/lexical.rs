//! Lexical retrieval: BM25 over the FAQ's passages with `tantivy`, each passage analysed with
//! the stemmer and stop words of its own language.
//!
//! Every language the desk knows a stemmer for has a text field of its own; a passage goes into
//! its language's field (others into a field without stemming). A query is analysed once per
//! field with that field's analyser and looked up in all of them, so a short message whose
//! language was detected wrongly still matches entries written in the language it is really
//! in. The index lives in memory: a knowledge base of thousands of entries is a few megabytes.

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, TantivyDocument, Term};

use crate::SupportError;

/// The languages with a stemmer, by ISO 639-1 code; anything else is indexed unstemmed.
const STEMMED: &[(&str, Language)] = &[
    ("en", Language::English),
    ("de", Language::German),
    ("fr", Language::French),
    ("es", Language::Spanish),
    ("it", Language::Italian),
    ("pt", Language::Portuguese),
    ("nl", Language::Dutch),
    ("sv", Language::Swedish),
    ("ru", Language::Russian),
    ("tr", Language::Turkish),
];

/// The field (and analyser) of languages without a stemmer.
const PLAIN: &str = "plain";

/// One analysed field: where a language's passages go.
struct LanguageField {
    field: Field,
    analyzer: TextAnalyzer,
}

/// A BM25 index of passages; a hit names the passage by its position in the build order.
pub struct LexicalIndex {
    reader: IndexReader,
    passage: Field,
    fields: HashMap<&'static str, LanguageField>,
    /// Fields in a fixed order, so a query's clauses (and float sums) are the same every time.
    order: Vec<&'static str>,
    passages: usize,
}

impl std::fmt::Debug for LexicalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalIndex")
            .field("passages", &self.passages)
            .finish_non_exhaustive()
    }
}

fn analyzer(language: Option<Language>) -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser);
    match language {
        Some(language) => match StopWordFilter::new(language) {
            Some(stop_words) => builder
                .filter(stop_words)
                .filter(Stemmer::new(language))
                .build(),
            None => builder.filter(Stemmer::new(language)).build(),
        },
        None => builder.filter(AsciiFoldingFilter).build(),
    }
}

impl LexicalIndex {
    /// Indexes `passages`, each `(language code, text)`.
    pub fn build<'a>(
        passages: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SupportError> {
        let mut schema = Schema::builder();
        let passage = schema.add_u64_field("passage", STORED);
        let mut fields = HashMap::new();
        let mut order = Vec::new();
        let names = STEMMED
            .iter()
            .map(|(code, language)| (*code, Some(*language)))
            .chain([(PLAIN, None)]);
        for (code, language) in names {
            let options = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(code)
                    .set_index_option(IndexRecordOption::WithFreqs),
            );
            let field = schema.add_text_field(&format!("text_{code}"), options);
            fields.insert(
                code,
                LanguageField {
                    field,
                    analyzer: analyzer(language),
                },
            );
            order.push(code);
        }
        let index = Index::create_in_ram(schema.build());
        for (code, language_field) in &fields {
            index
                .tokenizers()
                .register(code, language_field.analyzer.clone());
        }
        // One thread and the smallest arena tantivy allows: the knowledge base is small and
        // the build must not take both cores from the server.
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, 15_000_000)
            .map_err(lexical)?;
        let mut count = 0;
        for (position, (language, text)) in passages.into_iter().enumerate() {
            let target = fields
                .get(language)
                .or_else(|| fields.get(PLAIN))
                .expect("the plain field is always there");
            let mut document = TantivyDocument::new();
            document.add_u64(passage, position as u64);
            document.add_text(target.field, text);
            writer.add_document(document).map_err(lexical)?;
            count = position + 1;
        }
        writer.commit().map_err(lexical)?;
        let reader = index.reader().map_err(lexical)?;
        Ok(Self {
            reader,
            passage,
            fields,
            order,
            passages: count,
        })
    }

    /// How many passages are indexed.
    pub fn len(&self) -> usize {
        self.passages
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.passages == 0
    }

    /// Every passage matching at least one term of `query`, with its BM25 score, best first,
    /// at most `limit`. A query with no indexable term (only stop words, punctuation) matches
    /// nothing.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(usize, f32)>, SupportError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for code in &self.order {
            let language_field = &self.fields[code];
            let mut analyzer = language_field.analyzer.clone();
            let mut stream = analyzer.token_stream(query);
            let mut seen = std::collections::HashSet::new();
            while stream.advance() {
                let text = stream.token().text.clone();
                if seen.insert(text.clone()) {
                    let term = Term::from_field_text(language_field.field, &text);
                    clauses.push((
                        Occur::Should,
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                    ));
                }
            }
        }
        if clauses.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(limit).order_by_score(),
            )
            .map_err(lexical)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address).map_err(lexical)?;
            let position = document
                .get_first(self.passage)
                .and_then(|value| value.as_u64())
                .ok_or_else(|| SupportError::Index("a passage lost its position".into()))?;
            hits.push((position as usize, score));
        }
        Ok(hits)
    }
}

fn lexical(error: tantivy::TantivyError) -> SupportError {
    SupportError::Index(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> LexicalIndex {
        LexicalIndex::build([
            ("en", "Why was my card payment declined?"),
            ("de", "Warum wurde meine Kartenzahlung abgelehnt?"),
            ("en", "How do I reset my online banking password?"),
            ("es", "¿Cómo cambio el límite de mi tarjeta?"),
        ])
        .expect("a small index builds")
    }

    #[test]
    fn english_stemming_matches_other_forms_of_a_word() {
        let hits = index().search("card payments declining", 10).unwrap();
        assert_eq!(hits.first().map(|hit| hit.0), Some(0), "{hits:?}");
    }

    #[test]
    fn german_passages_are_found_with_german_stems() {
        // "abgelehnten" and "Kartenzahlungen" only meet the passage's forms through the
        // German stemmer.
        let hits = index().search("abgelehnten Kartenzahlungen", 10).unwrap();
        assert_eq!(hits.first().map(|hit| hit.0), Some(1), "{hits:?}");
    }

    #[test]
    fn a_query_of_stop_words_or_punctuation_matches_nothing() {
        assert!(index().search("?!", 10).unwrap().is_empty());
        assert!(index().search("", 10).unwrap().is_empty());
    }

    #[test]
    fn results_are_capped_and_best_first() {
        let hits = index().search("my card password limit", 2).unwrap();
        assert_eq!(hits.len(), 2);
        assert!(hits[0].1 >= hits[1].1);
    }
}
