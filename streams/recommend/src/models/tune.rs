//! Choosing the collaborative model's settings on data held out from the training rows.
//!
//! The training rows are split once more: part of each user's items (their newest, or a
//! seeded random draw, as [`Holdout`] says) becomes a validation set, a model is trained on
//! the rest for every setting of a small grid, and the setting with the best nDCG@k on the
//! validation items wins. The grid scales with the data: EASE's λ is tried at multiples of the
//! mean number of users per item, so the same grid fits a thousand users or a million. Where
//! EASE fits and the model is chosen automatically, item-kNN's neighbourhood sizes are tried
//! beside it and the better of the two item-based models is kept.
//! The final model is then trained on all training rows with the winning setting.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::{
    Cf, CfConfig, CfKind, Ease, EaseConfig, Interaction, Interactions, ItemGram, Knn, KnnConfig,
    Profile, top_k,
};
use crate::RecommendError;
use crate::eval::ranking_metrics;

/// Which of a user's items are held out for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holdout {
    /// Each user's newest items: the question a live recommender answers (what comes next).
    Newest,
    /// A seeded random draw of each user's items.
    Random {
        /// The draw's seed.
        seed: u64,
    },
}

/// What tuning tried and chose.
#[derive(Debug, Clone)]
pub struct Tuned {
    /// The chosen settings.
    pub config: CfConfig,
    /// The validation nDCG of the chosen settings.
    pub validation_ndcg: f64,
    /// Every (EASE's λ, or item-kNN's neighbours, recency, nDCG) tried.
    pub trials: Vec<(f64, f32, f64)>,
}

/// The grid's multipliers of the mean users-per-item count for EASE's λ.
const LAMBDA_SCALES: [f64; 5] = [2.0, 5.0, 10.0, 20.0, 50.0];
/// Item-kNN's neighbourhood sizes tried.
const NEIGHBOURS: [usize; 4] = [20, 50, 100, 200];
/// The recency settings tried (0: no fading).
const RECENCY: [f32; 5] = [0.0, 1.6, 0.8, 0.4, 0.2];
/// The share of each user's items held out.
const HOLDOUT_SHARE: f64 = 0.2;

/// Tunes `base` on a validation split of `rows` and returns the chosen settings.
/// Users with fewer than three items keep all of them for training.
pub fn tune(
    rows: &[Interaction],
    base: &CfConfig,
    holdout: Holdout,
    k: usize,
) -> Result<Tuned, RecommendError> {
    let (fit_rows, validation) = split(rows, holdout);
    let mut interactions = Interactions::build(fit_rows);
    for (_, items) in &validation {
        for item in items {
            interactions.add_item(item);
        }
    }
    let truth: Vec<(u32, Vec<u32>)> = validation
        .iter()
        .filter_map(|(user, items)| {
            let user = interactions.user_index(user)?;
            let items = items
                .iter()
                .filter_map(|item| interactions.item_index(item))
                .collect();
            Some((user, items))
        })
        .collect();
    let dense = interactions.item_count() <= base.max_dense_items;
    let (use_ease, use_knn) = match base.kind {
        CfKind::Ease => (true, false),
        CfKind::Als => (false, false),
        CfKind::Knn => (false, true),
        CfKind::Auto => (dense, dense),
    };
    let mut trials = Vec::new();
    let mut best: Option<(f64, CfConfig)> = None;
    let mut consider = |config: CfConfig, ndcg: f64, trials: &mut Vec<(f64, f32, f64)>| {
        let setting = match config.kind {
            CfKind::Knn => config.knn.neighbours as f64,
            _ => config.ease.lambda,
        };
        trials.push((setting, config.recency, ndcg));
        if best.as_ref().is_none_or(|(best_ndcg, _)| ndcg > *best_ndcg) {
            best = Some((ndcg, config));
        }
    };
    if truth.is_empty() {
        return Ok(Tuned {
            config: base.clone(),
            validation_ndcg: 0.0,
            trials,
        });
    }
    if use_ease {
        let gram = ItemGram::build(&interactions);
        let users_per_item = interactions.nnz() as f64 / interactions.item_count().max(1) as f64;
        for scale in LAMBDA_SCALES {
            let lambda = (scale * users_per_item).max(1.0);
            let model = Cf::Ease(Ease::from_gram(&gram, &EaseConfig { lambda })?);
            for recency in RECENCY {
                let ndcg = validation_ndcg(&model, &interactions, &truth, recency, k);
                let config = CfConfig {
                    kind: CfKind::Ease,
                    ease: EaseConfig { lambda },
                    recency,
                    ..base.clone()
                };
                consider(config, ndcg, &mut trials);
            }
        }
    }
    if use_knn {
        for neighbours in NEIGHBOURS {
            let knn = KnnConfig {
                neighbours,
                ..base.knn.clone()
            };
            let model = Cf::Knn(Knn::fit(&interactions, &knn)?);
            for recency in RECENCY {
                let ndcg = validation_ndcg(&model, &interactions, &truth, recency, k);
                let config = CfConfig {
                    kind: CfKind::Knn,
                    knn: knn.clone(),
                    recency,
                    ..base.clone()
                };
                consider(config, ndcg, &mut trials);
            }
        }
    }
    if !use_ease && !use_knn {
        let model = Cf::fit(
            &interactions,
            &CfConfig {
                kind: CfKind::Als,
                ..base.clone()
            },
        )?;
        for recency in RECENCY {
            let ndcg = validation_ndcg(&model, &interactions, &truth, recency, k);
            consider(
                CfConfig {
                    kind: CfKind::Als,
                    recency,
                    ..base.clone()
                },
                ndcg,
                &mut trials,
            );
        }
    }
    let (validation_ndcg, config) = best.expect("at least one trial ran");
    Ok(Tuned {
        config,
        validation_ndcg,
        trials,
    })
}

fn validation_ndcg(
    model: &Cf,
    interactions: &Interactions,
    truth: &[(u32, Vec<u32>)],
    recency: f32,
    k: usize,
) -> f64 {
    let total: f64 = truth
        .par_iter()
        .map_init(
            || vec![0f32; interactions.item_count()],
            |scores, (user, relevant)| {
                let row = interactions.user_row(*user);
                model.score(&Profile::from_row(row, recency), scores);
                let mut seen: Vec<u32> = row.iter().map(|entry| entry.item).collect();
                seen.sort_unstable();
                let top = top_k(scores, |item| seen.binary_search(&item).is_ok(), k);
                let ranked: Vec<u32> = top.into_iter().map(|(item, _)| item).collect();
                ranking_metrics(&ranked, relevant, k).ndcg
            },
        )
        .sum();
    total / truth.len() as f64
}

/// Splits rows into (training rows, held-out items per user).
fn split(rows: &[Interaction], holdout: Holdout) -> (Vec<Interaction>, Vec<(String, Vec<String>)>) {
    let mut by_user: std::collections::BTreeMap<&str, Vec<&Interaction>> = Default::default();
    for row in rows {
        by_user.entry(&row.user).or_default().push(row);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(match holdout {
        Holdout::Random { seed } => seed,
        Holdout::Newest => 0,
    });
    let mut train = Vec::with_capacity(rows.len());
    let mut validation = Vec::new();
    for (user, mut entries) in by_user {
        // distinct items only: a repeat of a training item is no test of anything
        let mut distinct: Vec<&str> = Vec::new();
        match holdout {
            Holdout::Newest => entries.sort_by_key(|row| row.at),
            Holdout::Random { .. } => entries.shuffle(&mut rng),
        }
        for row in &entries {
            if !distinct.contains(&row.item.as_str()) {
                distinct.push(&row.item);
            }
        }
        let held = if distinct.len() >= 3 {
            (distinct.len() as f64 * HOLDOUT_SHARE).round() as usize
        } else {
            0
        };
        let held_items: Vec<&str> = distinct[distinct.len() - held..].to_vec();
        for row in entries {
            if !held_items.contains(&row.item.as_str()) {
                train.push(row.clone());
            }
        }
        if !held_items.is_empty() {
            validation.push((
                user.to_owned(),
                held_items.into_iter().map(str::to_owned).collect(),
            ));
        }
    }
    (train, validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_fifth_is_held_out() {
        let rows: Vec<Interaction> = (0..10)
            .map(|at| Interaction {
                user: "u".into(),
                item: format!("i{at}"),
                weight: 1.0,
                at,
            })
            .collect();
        let (train, validation) = split(&rows, Holdout::Newest);
        assert_eq!(train.len(), 8);
        assert_eq!(
            validation,
            vec![("u".to_owned(), vec!["i8".to_owned(), "i9".to_owned()])]
        );
        let (train, validation) = split(&rows[..2], Holdout::Newest);
        assert_eq!((train.len(), validation.len()), (2, 0));
    }
}
