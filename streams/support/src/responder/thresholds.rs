//! When the responder answers: a confidence threshold and an ambiguity margin, set on the
//! knowledge base itself.
//!
//! A confidence is the top entry's primary dense cosine (its BM25 per query word when the desk
//! runs without an embedding model): numbers whose scale depends on the model, so no
//! constant would do.
//! [`Thresholds::calibrate`] asks every question variant with itself left out (the same
//! leave-one-out set the fusion is chosen on) and sets the threshold to the lowest confidence
//! at which the answers given are right at least `target_precision` of the time. The margin is
//! where a right answer and a wrong one stop being told apart: the median lead of the wrong
//! answers given, kept below the lead of three right answers in four, so asking back stays the
//! exception. A desk without an embedding model keeps configured or default values (see
//! [`Thresholds::calibrate`]).

use super::{Ranked, ResponderConfig};

/// Held-out questions needed to calibrate; fewer keep the configured or default values.
const MIN_CALIBRATION_QUESTIONS: usize = 20;

/// The defaults when nothing can be calibrated: a cosine of 0.5 is a weak match for the
/// sentence encoders we ship; a BM25 of 1 per query word is about one rare term in three
/// in common.
const DEFAULT_DENSE_THRESHOLD: f32 = 0.5;
const DEFAULT_LEXICAL_THRESHOLD: f32 = 1.0;
const DEFAULT_DENSE_MARGIN: f32 = 0.01;
const DEFAULT_LEXICAL_MARGIN: f32 = 0.1;

/// A ranked entry's confidence, in the units the thresholds are in.
pub fn confidence(ranked: &Ranked) -> f32 {
    ranked.confidence
}

/// How far the first of `ranking` leads the second (its whole confidence when alone).
pub fn lead(ranking: &[Ranked]) -> f32 {
    match ranking {
        [] => 0.0,
        [only] => confidence(only),
        [first, second, ..] => confidence(first) - confidence(second),
    }
}

/// The retrieved entry most confident of all, when it beats the first-ranked one's confidence
/// by more than `margin`: the fusion ranked first an entry the primary model is less sure of.
pub fn more_confident_than_top(ranking: &[Ranked], margin: f32) -> Option<&Ranked> {
    let top = ranking.first()?;
    ranking
        .iter()
        .skip(1)
        .max_by(|a, b| confidence(a).total_cmp(&confidence(b)))
        .filter(|best| confidence(best) - confidence(top) > margin)
}

/// The thresholds in use and where they came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Thresholds {
    /// Least confidence to answer (per-intent thresholds in the configuration override it).
    pub answer: f32,
    /// The first entry must lead the second by more than this to be answered without asking
    /// back.
    pub margin: f32,
    /// Held-out questions they were set on (0: configured or default values).
    pub calibrated_on: usize,
    /// On those, how often an answer given was right.
    pub precision: Option<f32>,
    /// On those, how many were answered.
    pub coverage: Option<f32>,
}

impl Thresholds {
    /// The configured values, else the defaults for a dense or a lexical desk.
    pub fn configured(config: &ResponderConfig, dense: bool) -> Self {
        let (answer, margin) = if dense {
            (DEFAULT_DENSE_THRESHOLD, DEFAULT_DENSE_MARGIN)
        } else {
            (DEFAULT_LEXICAL_THRESHOLD, DEFAULT_LEXICAL_MARGIN)
        };
        Self {
            answer: config.min_confidence.unwrap_or(answer),
            margin: config.ambiguity_margin.unwrap_or(margin),
            calibrated_on: 0,
            precision: None,
            coverage: None,
        }
    }

    /// Set on `held_out` (each the right id and what was retrieved); values fixed in `config`
    /// are kept as they are.
    pub fn calibrate(
        held_out: &[(String, Vec<Ranked>)],
        config: &ResponderConfig,
        dense: bool,
    ) -> Self {
        let configured = Self::configured(config, dense);
        // BM25 alone finds the right entry first for under a third of held-out paraphrases
        // (they share few words with the rest of their entry), far fewer than for real
        // questions, which share words with some variant: calibrating on them would make a
        // lexical desk answer almost nothing. It keeps the configured or default values.
        if !dense {
            return configured;
        }
        // (confidence, lead, right) of each question's top answer.
        let mut tops: Vec<(f32, f32, bool)> = held_out
            .iter()
            .filter_map(|(target, ranking)| {
                let top = ranking.first()?;
                Some((confidence(top), lead(ranking), top.id == *target))
            })
            .collect();
        if tops.len() < MIN_CALIBRATION_QUESTIONS {
            return configured;
        }
        tops.sort_by(|a, b| b.0.total_cmp(&a.0));
        let answer = config
            .min_confidence
            .unwrap_or_else(|| answer_threshold(&tops, config.target_precision));
        let answered: Vec<(f32, f32, bool)> =
            tops.iter().copied().filter(|top| top.0 >= answer).collect();
        let margin = config
            .ambiguity_margin
            .unwrap_or_else(|| ambiguity_margin(&answered));
        let given: Vec<&(f32, f32, bool)> = answered.iter().filter(|top| top.1 > margin).collect();
        let right = given.iter().filter(|top| top.2).count();
        Self {
            answer,
            margin,
            calibrated_on: tops.len(),
            precision: (!given.is_empty()).then(|| right as f32 / given.len() as f32),
            coverage: Some(given.len() as f32 / tops.len() as f32),
        }
    }
}

/// Least share of the held-out questions the threshold must let through for the precision
/// target to be kept: below it the retriever cannot reach the target on this knowledge base
/// (BM25 alone on paraphrases), and a desk that answers one question in a hundred is no desk.
const MIN_COVERAGE: f32 = 0.2;

/// The lowest confidence at which answers at or above it are right at least `target` of the
/// time, when that answers at least [`MIN_COVERAGE`] of the questions; otherwise the cut with
/// the most right answers over wrong ones (right more often than not). `tops` is sorted by
/// confidence, highest first.
fn answer_threshold(tops: &[(f32, f32, bool)], target: f32) -> f32 {
    let mut right = 0usize;
    let mut lowest_reaching: Option<(f32, usize)> = None;
    let mut best_net: (i64, f32) = (i64::MIN, tops[0].0);
    for (position, top) in tops.iter().enumerate() {
        right += usize::from(top.2);
        // Only cut between distinct confidences: equal ones are answered alike.
        if tops.get(position + 1).is_some_and(|next| next.0 == top.0) {
            continue;
        }
        let answered = position + 1;
        if right as f32 / answered as f32 >= target {
            lowest_reaching = Some((top.0, answered));
        }
        let net = right as i64 - (answered - right) as i64;
        if net > best_net.0 {
            best_net = (net, top.0);
        }
    }
    match lowest_reaching {
        Some((cut, answered)) if answered as f32 >= MIN_COVERAGE * tops.len() as f32 => cut,
        _ => best_net.1,
    }
}

/// The median lead of the wrong answers given, capped at the lead three right answers in four
/// reach (so at most a quarter of right answers are asked back); 0 with no wrong answers.
fn ambiguity_margin(answered: &[(f32, f32, bool)]) -> f32 {
    let mut wrong: Vec<f32> = answered.iter().filter(|t| !t.2).map(|t| t.1).collect();
    let mut right: Vec<f32> = answered.iter().filter(|t| t.2).map(|t| t.1).collect();
    if wrong.is_empty() {
        return 0.0;
    }
    wrong.sort_by(f32::total_cmp);
    right.sort_by(f32::total_cmp);
    let median_wrong = wrong[wrong.len() / 2];
    match right.get(right.len() / 4) {
        Some(&quartile_right) => median_wrong.min(quartile_right),
        None => median_wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(id: &str, cosine: f32) -> Ranked {
        Ranked {
            id: id.into(),
            score: cosine,
            lexical: None,
            dense: Some(cosine),
            passage: 0,
            confidence: cosine,
        }
    }

    /// 40 questions: confident ones right, unsure ones wrong half the time; wrong ones lead
    /// by little.
    fn held_out() -> Vec<(String, Vec<Ranked>)> {
        (0..40)
            .map(|i| {
                let cosine = 0.95 - i as f32 * 0.01;
                let wrong = i >= 20 && i % 2 == 0;
                let (first, lead) = if wrong {
                    ("other", 0.005)
                } else {
                    ("right", 0.05)
                };
                (
                    "right".to_owned(),
                    vec![ranked(first, cosine), ranked("third", cosine - lead)],
                )
            })
            .collect()
    }

    #[test]
    fn the_threshold_is_the_lowest_confidence_meeting_the_precision() {
        let config = ResponderConfig::default();
        let thresholds = Thresholds::calibrate(&held_out(), &config, true);
        assert_eq!(thresholds.calibrated_on, 40);
        // 20 right above 0.76, then alternating: precision stays ≥ 0.9 down to 0.72
        // (22 right of 24), not below (23 of 26 is 0.885).
        assert!((thresholds.answer - 0.72).abs() < 1e-4, "{thresholds:?}");
        // The wrong answers' lead is 0.005: asking back catches them, right ones lead by 0.05.
        assert!((thresholds.margin - 0.005).abs() < 1e-6, "{thresholds:?}");
        assert_eq!(thresholds.precision, Some(1.0));
    }

    #[test]
    fn a_surer_entry_below_the_top_is_found_beyond_the_margin_only() {
        // The shipped desk, "¿Cómo cambio mi PIN?": the fusion put card-pin-blocked (0.901)
        // above card-pin-change (0.965).
        let ranking = [
            ranked("card-pin-blocked", 0.901),
            ranked("card-pin-change", 0.965),
            ranked("account-close", 0.875),
        ];
        assert_eq!(
            more_confident_than_top(&ranking, 0.01).map(|r| r.id.as_str()),
            Some("card-pin-change")
        );
        assert!(more_confident_than_top(&ranking, 0.1).is_none());
        assert!(more_confident_than_top(&ranking[..1], 0.0).is_none());
        let agreeing = [ranked("a", 0.95), ranked("b", 0.90)];
        assert!(more_confident_than_top(&agreeing, 0.0).is_none());
    }

    #[test]
    fn configured_values_win_and_few_questions_keep_the_defaults() {
        let config = ResponderConfig {
            min_confidence: Some(0.9),
            ..ResponderConfig::default()
        };
        let thresholds = Thresholds::calibrate(&held_out(), &config, true);
        assert_eq!(thresholds.answer, 0.9);
        let few = &held_out()[..5];
        let thresholds = Thresholds::calibrate(few, &ResponderConfig::default(), true);
        assert_eq!(thresholds.calibrated_on, 0);
        assert_eq!(thresholds.answer, DEFAULT_DENSE_THRESHOLD);
        let lexical = Thresholds::calibrate(&held_out(), &ResponderConfig::default(), false);
        assert_eq!(lexical.answer, DEFAULT_LEXICAL_THRESHOLD);
    }
}
