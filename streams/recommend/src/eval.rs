//! Offline evaluation: `finpulse eval recommender --train TRAIN.tsv --test TEST.tsv`.
//!
//! The files are MovieLens `u.data` style, tab-separated with the header
//! `user item rating timestamp`; every row is a positive interaction (the rating is read,
//! checked and otherwise ignored). For every user with a test row, every item outside the
//! user's training rows is ranked: items of the training and the test files, so an item seen
//! only in the test file is a candidate too (it scores lowest, as nothing is known of it).
//! precision@k = hits / k, recall@k = hits / |test items|, nDCG@k with binary relevance and the
//! ideal DCG over min(k, |test items|); the same for popularity as the baseline.
//!
//! The model is the production one ([`crate::models::Cf`]), tuned by [`crate::models::tune`]
//! on a validation split of the training rows. The validation split has the shape of the test
//! split: when every user's test rows are at or after their training rows (a temporal split)
//! the newest training rows are held out, otherwise a random draw. Only the test file's
//! timestamps are read for this, never which items it holds. A test user with no training rows
//! gets the popular items, as a new customer does live. Ties in score go to the item whose id
//! sorts first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::RecommendError;
use crate::models::{
    Cf, CfConfig, Holdout, Interaction, Interactions, Popularity, Profile, Tuned, top_k, tune,
};

/// One row of an interactions file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// User id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// The rating (read and checked, otherwise unused: every row is a positive).
    pub rating: f64,
    /// The time, as written (seconds since the epoch in MovieLens).
    pub timestamp: i64,
}

/// Reads a `user item rating timestamp` file. Blank lines are skipped; anything else that is
/// not four tab-separated fields with a numeric rating and an integer timestamp is an error
/// naming the line.
pub fn read_tsv(path: &Path) -> Result<Vec<Row>, RecommendError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecommendError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_tsv(&text, path)
}

fn parse_tsv(text: &str, path: &Path) -> Result<Vec<Row>, RecommendError> {
    let bad = |line: usize, reason: String| RecommendError::BadRow {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, line)| line.trim_end_matches('\r'))
        .unwrap_or_default();
    let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
    if columns != ["user", "item", "rating", "timestamp"] {
        return Err(bad(
            1,
            format!(
                "expected the header `user<TAB>item<TAB>rating<TAB>timestamp`, found `{header}`"
            ),
        ));
    }
    let mut rows = Vec::new();
    for (index, line) in lines {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 4 {
            return Err(bad(
                number,
                format!("expected 4 tab-separated fields, found {}", fields.len()),
            ));
        }
        let (user, item) = (fields[0].trim(), fields[1].trim());
        if user.is_empty() || item.is_empty() {
            return Err(bad(number, "empty user or item".into()));
        }
        let rating: f64 = fields[2]
            .trim()
            .parse()
            .ok()
            .filter(|rating: &f64| rating.is_finite())
            .ok_or_else(|| bad(number, format!("rating `{}` is not a number", fields[2])))?;
        let timestamp = parse_timestamp(fields[3].trim()).ok_or_else(|| {
            bad(
                number,
                format!("timestamp `{}` is not an integer", fields[3]),
            )
        })?;
        rows.push(Row {
            user: user.to_owned(),
            item: item.to_owned(),
            rating,
            timestamp,
        });
    }
    Ok(rows)
}

/// Integers, and floats with a zero fraction as some exports write them (`881250949.0`).
fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(value) = text.parse::<i64>() {
        return Some(value);
    }
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15).then_some(value as i64)
}

/// Ranking quality averaged over users.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Users counted.
    pub users: usize,
    /// Mean precision@k.
    pub precision: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean nDCG@k.
    pub ndcg: f64,
}

/// The report `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Users counted.
    pub users: usize,
    /// Mean precision@k of the model.
    pub precision: f64,
    /// Mean recall@k of the model.
    pub recall: f64,
    /// Mean nDCG@k of the model.
    pub ndcg: f64,
    /// The popularity baseline on the same users.
    pub baseline: Metrics,
    /// Seconds spent training, tuning included.
    pub train_s: f64,
}

/// The report and how the model was chosen (printed beside the report, not in it).
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The figures.
    pub report: Report,
    /// The model that ran (`ease` or `als`).
    pub model: &'static str,
    /// Its settings.
    pub config: CfConfig,
    /// Which validation split tuning used.
    pub holdout: Holdout,
    /// The validation nDCG of the chosen settings (NaN when not tuned).
    pub validation_ndcg: f64,
    /// Microseconds to rank one user's list (profile, scores, top k): median, p99, max, with
    /// the evaluation's users ranked on all cores at once.
    pub latency_us: [f64; 3],
}

/// One user's figures for a ranked list and the relevant items.
pub fn ranking_metrics(ranked: &[u32], relevant: &[u32], k: usize) -> Metrics {
    if relevant.is_empty() || k == 0 {
        return Metrics {
            users: 1,
            precision: 0.0,
            recall: 0.0,
            ndcg: 0.0,
        };
    }
    let mut hits = 0usize;
    let mut dcg = 0.0;
    for (rank, item) in ranked.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    let ideal: f64 = (0..k.min(relevant.len()))
        .map(|rank| 1.0 / ((rank + 2) as f64).log2())
        .sum();
    Metrics {
        users: 1,
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant.len() as f64,
        ndcg: dcg / ideal,
    }
}

/// How the evaluated model gets its settings.
#[derive(Debug, Clone)]
pub enum Settings {
    /// Tuned on a validation split of the training rows, starting from these settings (what
    /// `finpulse train recommender` does).
    Tuned(CfConfig),
    /// Exactly these.
    Fixed(CfConfig),
}

/// Evaluates the production model on two files.
pub fn evaluate_files(
    train: &Path,
    test: &Path,
    k: usize,
    settings: Settings,
) -> Result<Evaluation, RecommendError> {
    let train_rows = read_tsv(train)?;
    let test_rows = read_tsv(test)?;
    evaluate(&train_rows, &test_rows, k, settings, train)
}

/// Evaluates the production model on rows already read (`train_path` names them in errors).
pub fn evaluate(
    train: &[Row],
    test: &[Row],
    k: usize,
    settings: Settings,
    train_path: &Path,
) -> Result<Evaluation, RecommendError> {
    if k == 0 {
        return Err(RecommendError::InvalidInput("k must be at least 1".into()));
    }
    if train.is_empty() {
        return Err(RecommendError::BadRow {
            path: PathBuf::from(train_path),
            line: 1,
            reason: "no training rows".into(),
        });
    }
    let started = Instant::now();
    let rows: Vec<Interaction> = train
        .iter()
        .map(|row| Interaction {
            user: row.user.clone(),
            item: row.item.clone(),
            weight: 1.0,
            at: row.timestamp,
        })
        .collect();
    let holdout = if is_temporal(train, test) {
        Holdout::Newest
    } else {
        Holdout::Random { seed: 7 }
    };
    let tuned = match settings {
        Settings::Tuned(base) => tune(&rows, &base, holdout, k)?,
        Settings::Fixed(config) => Tuned {
            config,
            validation_ndcg: f64::NAN,
            trials: Vec::new(),
        },
    };
    // Items numbered in sorted id order: ties (common among popularity counts) then break by
    // id, as any other implementation that sorts its ids would break them.
    let mut items: Vec<&str> = train
        .iter()
        .chain(test)
        .map(|row| row.item.as_str())
        .collect();
    items.sort_unstable();
    items.dedup();
    let interactions = Interactions::build_with_items(items, rows);
    let model = Cf::fit(&interactions, &tuned.config)?;
    let train_s = started.elapsed().as_secs_f64();
    let popularity = Popularity::fit(&interactions);

    let mut truth: HashMap<&str, Vec<u32>> = HashMap::new();
    for row in test {
        let item = interactions
            .item_index(&row.item)
            .expect("every test item was added");
        let items = truth.entry(&row.user).or_default();
        if !items.contains(&item) {
            items.push(item);
        }
    }
    let mut users: Vec<(&str, Vec<u32>)> = truth.into_iter().collect();
    users.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if users.is_empty() {
        return Err(RecommendError::InvalidInput(
            "the test file has no rows".into(),
        ));
    }
    let recency = tuned.config.recency;
    let outcomes: Vec<(Metrics, Metrics, f64)> = users
        .par_iter()
        .map_init(
            || vec![0f32; interactions.item_count()],
            |scores, (user, relevant)| {
                let row = interactions
                    .user_index(user)
                    .map(|index| interactions.user_row(index))
                    .unwrap_or(&[]);
                let mut seen: Vec<u32> = row.iter().map(|entry| entry.item).collect();
                seen.sort_unstable();
                let exclude = |item: u32| seen.binary_search(&item).is_ok();
                // timed: what serving one user's list costs, profile to top k
                let started = Instant::now();
                let profile = Profile::from_row(row, recency);
                if profile.is_empty() {
                    scores.copy_from_slice(popularity.scores());
                } else {
                    model.score(&profile, scores);
                }
                let ranked: Vec<u32> = top_k(scores, exclude, k)
                    .into_iter()
                    .map(|(item, _)| item)
                    .collect();
                let micros = started.elapsed().as_secs_f64() * 1e6;
                let baseline: Vec<u32> = top_k(popularity.scores(), exclude, k)
                    .into_iter()
                    .map(|(item, _)| item)
                    .collect();
                (
                    ranking_metrics(&ranked, relevant, k),
                    ranking_metrics(&baseline, relevant, k),
                    micros,
                )
            },
        )
        .collect();
    let (model_sum, baseline_sum) = outcomes.iter().fold((zero(), zero()), |sums, outcome| {
        (add(sums.0, outcome.0), add(sums.1, outcome.1))
    });
    let mut latencies: Vec<f64> = outcomes.iter().map(|outcome| outcome.2).collect();
    latencies.sort_unstable_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let model_metrics = mean(model_sum);
    Ok(Evaluation {
        report: Report {
            users: model_metrics.users,
            precision: model_metrics.precision,
            recall: model_metrics.recall,
            ndcg: model_metrics.ndcg,
            baseline: mean(baseline_sum),
            train_s,
        },
        model: model.name(),
        config: tuned.config,
        holdout,
        validation_ndcg: tuned.validation_ndcg,
        latency_us: [quantile(0.5), quantile(0.99), quantile(1.0)],
    })
}

/// Splits rows per user: each user's newest `share` of rows (at least one, when the user has
/// two or more) becomes test, the rest train. Ties in time keep the given order.
pub fn temporal_split(rows: &[Row], share: f64) -> (Vec<Row>, Vec<Row>) {
    let mut by_user: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in rows {
        by_user.entry(&row.user).or_default().push(row);
    }
    let mut users: Vec<&str> = by_user.keys().copied().collect();
    users.sort_unstable();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for user in users {
        let mut entries = by_user.remove(user).expect("listed users have rows");
        entries.sort_by_key(|row| row.timestamp);
        let held = if entries.len() < 2 {
            0
        } else {
            ((entries.len() as f64 * share).round() as usize).max(1)
        };
        let cut = entries.len() - held;
        train.extend(entries[..cut].iter().map(|row| (*row).clone()));
        test.extend(entries[cut..].iter().map(|row| (*row).clone()));
    }
    (train, test)
}

/// Whether the test rows come after the training rows for (nearly) every user who has both.
fn is_temporal(train: &[Row], test: &[Row]) -> bool {
    let mut latest_train: HashMap<&str, i64> = HashMap::new();
    for row in train {
        let latest = latest_train.entry(&row.user).or_insert(i64::MIN);
        *latest = (*latest).max(row.timestamp);
    }
    let mut earliest_test: HashMap<&str, i64> = HashMap::new();
    for row in test {
        let earliest = earliest_test.entry(&row.user).or_insert(i64::MAX);
        *earliest = (*earliest).min(row.timestamp);
    }
    let (mut both, mut after) = (0usize, 0usize);
    for (user, earliest) in earliest_test {
        if let Some(latest) = latest_train.get(user) {
            both += 1;
            after += usize::from(earliest >= *latest);
        }
    }
    both > 0 && after as f64 >= 0.9 * both as f64
}

fn zero() -> Metrics {
    Metrics {
        users: 0,
        precision: 0.0,
        recall: 0.0,
        ndcg: 0.0,
    }
}

fn add(a: Metrics, b: Metrics) -> Metrics {
    Metrics {
        users: a.users + b.users,
        precision: a.precision + b.precision,
        recall: a.recall + b.recall,
        ndcg: a.ndcg + b.ndcg,
    }
}

fn mean(sum: Metrics) -> Metrics {
    let n = sum.users.max(1) as f64;
    Metrics {
        users: sum.users,
        precision: sum.precision / n,
        recall: sum.recall / n,
        ndcg: sum.ndcg / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_the_contract() {
        // hits at ranks 1 and 3 of k = 4, three relevant items
        let metrics = ranking_metrics(&[10, 11, 12, 13], &[10, 12, 99], 4);
        assert_eq!(metrics.precision, 0.5);
        assert!((metrics.recall - 2.0 / 3.0).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((metrics.ndcg - dcg / ideal).abs() < 1e-12);
        // ideal DCG over min(k, |relevant|): one relevant item found first is a perfect score
        assert_eq!(ranking_metrics(&[5, 6, 7], &[5], 3).ndcg, 1.0);
    }

    #[test]
    fn the_temporal_split_holds_out_each_users_newest_rows() {
        let row = |user: &str, item: &str, timestamp| Row {
            user: user.into(),
            item: item.into(),
            rating: 1.0,
            timestamp,
        };
        let rows = [
            row("a", "1", 3),
            row("a", "2", 1),
            row("a", "3", 2),
            row("a", "4", 4),
            row("a", "5", 5),
            row("b", "1", 1),
        ];
        let (train, test) = temporal_split(&rows, 0.2);
        assert_eq!(test, [row("a", "5", 5)]);
        assert_eq!(train.len(), 5);
        assert!(is_temporal(&train, &test));
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let path = Path::new("train.tsv");
        let error = parse_tsv(
            "user\titem\trating\ttimestamp\n1\t2\t5\t100\n1\t3\tfive\t101\n",
            path,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "train.tsv:3: rating `five` is not a number"
        );
        let error = parse_tsv("user,item,rating,timestamp\n", path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("train.tsv:1: expected the header"),
            "{error}"
        );
        let error = parse_tsv("user\titem\trating\ttimestamp\n1\t2\t5\n", path).unwrap_err();
        assert_eq!(
            error.to_string(),
            "train.tsv:2: expected 4 tab-separated fields, found 3"
        );
        let rows = parse_tsv(
            "user\titem\trating\ttimestamp\r\n1\t2\t5\t881250949.0\r\n\r\n",
            path,
        )
        .unwrap();
        assert_eq!(rows[0].timestamp, 881_250_949);
    }
}
