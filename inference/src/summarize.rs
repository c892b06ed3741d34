//! Extractive summarisation: the sentences that best stand for a document, in their order.
//!
//! The text is split into sentences, each sentence is embedded, and sentences are chosen by
//! maximal marginal relevance: each pick maximises `λ·centrality − (1−λ)·redundancy`, where
//! centrality is the cosine similarity to the document's mean embedding and redundancy the
//! highest similarity to a sentence already picked. The picks are returned in document order.

use crate::{Embeddings, InferenceError};

/// How long a summary is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// This many sentences (at most all of them).
    Sentences(usize),
    /// This share of the sentences, rounded up, at least one.
    Ratio(f32),
}

/// Most sentences a document may have: each is embedded, and one request must not hold the
/// model for long.
pub const MAX_SENTENCES: usize = 512;

/// Weight of centrality against redundancy in MMR. At 0.6 a second sentence saying what a
/// chosen one says loses to a less central one that adds something, while an off-topic outlier
/// still loses to both (at 0.5 and below, outliers start to win on being different).
pub const LAMBDA: f32 = 0.6;

/// Words that end with a period without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "inc", "ltd", "co", "corp", "vs", "etc",
    "e.g", "i.e", "u.s", "u.k", "no", "fig", "approx", "dept", "est", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
];

/// Splits `text` into sentences: after `.`, `!`, `?` (and their CJK forms) followed by a space
/// and an uppercase letter, digit or quote, unless the word before is an abbreviation or an
/// initial; and at blank lines.
pub fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let cjk = matches!(c, '。' | '！' | '？');
        let boundary = if cjk {
            true
        } else if matches!(c, '.' | '!' | '?') {
            // Closing quotes and brackets belong to the sentence.
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | '”' | '’' | ']') {
                j += 1;
            }
            let spaced = j < chars.len() && chars[j].1.is_whitespace();
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            let next_starts = k >= chars.len()
                || chars[k].1.is_uppercase()
                || chars[k].1.is_numeric()
                || matches!(chars[k].1, '"' | '“' | '\'' | '(' | '‘')
                || !chars[k].1.is_alphabetic();
            let ends_text = j >= chars.len();
            if ends_text {
                true
            } else if !spaced || !next_starts {
                false
            } else if c == '.' {
                let word: String = text[start..at]
                    .rsplit(|ch: char| ch.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches(['(', '"', '\''])
                    .to_lowercase();
                let initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
                !(initial || ABBREVIATIONS.contains(&word.as_str()))
            } else {
                true
            }
        } else if c == '\n' {
            // A blank line ends a paragraph.
            let mut k = i + 1;
            while k < chars.len() && matches!(chars[k].1, ' ' | '\t' | '\r') {
                k += 1;
            }
            k < chars.len() && chars[k].1 == '\n'
        } else {
            false
        };
        if boundary {
            let mut end = i + 1;
            if !cjk && c != '\n' {
                while end < chars.len()
                    && matches!(chars[end].1, '"' | '\'' | ')' | '”' | '’' | ']')
                {
                    end += 1;
                }
            }
            let end_byte = chars.get(end).map_or(text.len(), |(b, _)| *b);
            push(&mut sentences, &text[start..end_byte]);
            start = end_byte;
            i = end;
            continue;
        }
        i += 1;
    }
    push(&mut sentences, &text[start..]);
    sentences
}

fn push(sentences: &mut Vec<String>, piece: &str) {
    let piece = piece.split_whitespace().collect::<Vec<_>>().join(" ");
    if piece.chars().any(char::is_alphanumeric) {
        sentences.push(piece);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Picks `count` of the unit `vectors` by MMR; returns their indices in ascending order.
pub fn select(vectors: &[Vec<f32>], count: usize, lambda: f32) -> Vec<usize> {
    let n = vectors.len();
    let count = count.min(n);
    if count == 0 {
        return Vec::new();
    }
    let dimension = vectors[0].len();
    let mut mean = vec![0.0f32; dimension];
    for vector in vectors {
        for (m, v) in mean.iter_mut().zip(vector) {
            *m += v;
        }
    }
    crate::embedder::normalize(&mut mean);
    let centrality: Vec<f32> = vectors.iter().map(|v| dot(v, &mean)).collect();
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    let mut redundancy = vec![f32::NEG_INFINITY; n];
    while chosen.len() < count {
        let best = (0..n)
            .filter(|i| !chosen.contains(i))
            .map(|i| {
                let penalty = if chosen.is_empty() {
                    0.0
                } else {
                    redundancy[i]
                };
                (i, lambda * centrality[i] - (1.0 - lambda) * penalty)
            })
            // Ties go to the earlier sentence.
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i)
            .expect("fewer chosen than sentences");
        chosen.push(best);
        for (i, r) in redundancy.iter_mut().enumerate() {
            *r = r.max(dot(&vectors[i], &vectors[best]));
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The summary of `text`: sentences of it, in order.
pub async fn summarize(
    embedder: &dyn Embeddings,
    text: &str,
    length: Length,
) -> Result<Vec<String>, InferenceError> {
    let sentences = split_sentences(text);
    if sentences.len() > MAX_SENTENCES {
        return Err(InferenceError::BadInput(format!(
            "the text has {} sentences; at most {MAX_SENTENCES} can be summarised",
            sentences.len()
        )));
    }
    let count = match length {
        Length::Sentences(n) => n,
        Length::Ratio(r) if r > 0.0 && r <= 1.0 => {
            ((sentences.len() as f32 * r).ceil() as usize).max(1)
        }
        Length::Ratio(r) => {
            return Err(InferenceError::BadInput(format!(
                "ratio must be in (0, 1], got {r}"
            )));
        }
    };
    if count == 0 {
        return Err(InferenceError::BadInput(
            "a summary needs at least one sentence".into(),
        ));
    }
    if sentences.len() <= count {
        return Ok(sentences);
    }
    let vectors = embedder.embed(sentences.clone()).await?;
    Ok(select(&vectors, count, LAMBDA)
        .into_iter()
        .map(|i| sentences[i].clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_ends_not_at_abbreviations_decimals_or_initials() {
        let text = "Apple Inc. rose 2.5% on Monday. Mr. Cook said demand in the U.S. was strong! \
                    Did J. P. Morgan agree? Analysts (e.g. at Goldman) were unsure.\n\n\
                    New paragraph without a period\n\nLast one.";
        assert_eq!(
            split_sentences(text),
            vec![
                "Apple Inc. rose 2.5% on Monday.",
                "Mr. Cook said demand in the U.S. was strong!",
                "Did J. P. Morgan agree?",
                "Analysts (e.g. at Goldman) were unsure.",
                "New paragraph without a period",
                "Last one.",
            ]
        );
        assert_eq!(
            split_sentences("利率上升了。股市下跌了。"),
            vec!["利率上升了。", "股市下跌了。"]
        );
        assert!(split_sentences("  ... ").is_empty());
    }

    #[test]
    fn mmr_prefers_central_sentences_and_avoids_repeating_itself() {
        // Three sentences on one topic, one on a related one, one outlier (5-d stand-ins for
        // sentence embeddings; the expected picks were checked with a NumPy transcription).
        let unit = |v: [f32; 5]| {
            let mut v = v.to_vec();
            crate::embedder::normalize(&mut v);
            v
        };
        let vectors = vec![
            unit([1.0, 0.3, 0.0, 0.0, 0.0]),
            unit([1.0, 0.0, 0.3, 0.0, 0.0]),
            unit([1.0, 0.2, 0.2, 0.0, 0.0]),
            unit([0.8, 0.2, 0.2, 1.0, 0.0]),
            unit([0.0, 0.0, 0.0, 0.0, 1.0]),
        ];
        // The most central, then the related topic rather than a near-duplicate ...
        assert_eq!(select(&vectors, 2, LAMBDA), vec![2, 3]);
        // ... and the outlier not before another on-topic sentence.
        assert_eq!(select(&vectors, 3, LAMBDA), vec![0, 2, 3]);
        // Centrality alone (λ = 1) would take near-duplicates.
        assert_eq!(select(&vectors, 2, 1.0), vec![0, 2]);
        assert_eq!(select(&vectors, 9, LAMBDA), vec![0, 1, 2, 3, 4]);
        assert!(select(&[], 2, LAMBDA).is_empty());
    }
}
