//! Ranking quality of retrieval: MRR@5, recall@1 and recall@5 of the right entry.

use serde::Serialize;

/// Where the right entry came in one query's ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankOutcome(Option<usize>);

impl RankOutcome {
    /// From the right entry's 0-based position in the ranking, `None` when it is absent.
    pub fn of(position: Option<usize>) -> Self {
        Self(position)
    }
}

/// Mean quality over queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean of 1 / rank when the right entry is in the top 5, else 0.
    pub mrr5: f64,
    /// Share of queries whose right entry is first.
    pub recall1: f64,
    /// Share of queries whose right entry is in the top 5.
    pub recall5: f64,
}

impl Metrics {
    /// The means over `outcomes`; all zero for none.
    pub fn of(outcomes: &[RankOutcome]) -> Self {
        if outcomes.is_empty() {
            return Self {
                mrr5: 0.0,
                recall1: 0.0,
                recall5: 0.0,
            };
        }
        let n = outcomes.len() as f64;
        let mut mrr5 = 0.0;
        let mut recall1 = 0.0;
        let mut recall5 = 0.0;
        for RankOutcome(position) in outcomes {
            if let Some(position) = position.filter(|&p| p < 5) {
                mrr5 += 1.0 / (position as f64 + 1.0);
                recall5 += 1.0;
                if position == 0 {
                    recall1 += 1.0;
                }
            }
        }
        Self {
            mrr5: mrr5 / n,
            recall1: recall1 / n,
            recall5: recall5 / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_beyond_five_count_as_misses() {
        let outcomes = [
            RankOutcome::of(Some(0)),
            RankOutcome::of(Some(1)),
            RankOutcome::of(Some(5)),
            RankOutcome::of(None),
        ];
        let metrics = Metrics::of(&outcomes);
        assert!((metrics.mrr5 - 1.5 / 4.0).abs() < 1e-12);
        assert!((metrics.recall1 - 0.25).abs() < 1e-12);
        assert!((metrics.recall5 - 0.5).abs() < 1e-12);
    }
}
