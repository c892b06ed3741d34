//! Experiments: which recommender strategy works, shown with numbers.
//!
//! A strategy is a named recommender configuration (CF only, hybrid, popularity, diversity on
//! or off). An [`Experiment`] splits customers between strategies:
//! - **A/B**: a customer's variant is a pure function of their id and the experiment's salt
//!   ([`assign`]: SHA-256 of `salt:user`, mapped onto the variants' weights), so it
//!   never changes between requests or replicas and needs no stored assignment;
//! - **bandit**: Thompson sampling over Beta posteriors of each variant's conversion rate
//!   ([`Bandit`]): traffic moves towards the variant that converts best, while a guardrail
//!   (a dismiss rate above a ceiling, once enough impressions are in) stops a variant.
//!
//! Results per variant ([`VariantResult`]): impressions, clicks, conversions, CTR and conversion
//! rate with Wilson score intervals, and a two-proportion z-test of each variant against the
//! first (the control). [`live`] runs experiments on the serving path: the running one cached,
//! lists assigned and logged, outcomes attributed.

pub mod live;

pub use finpulse_core::recommend::experiment::{
    Counts, Experiment, Guardrail, Mode, Status, TrafficBucket, TrafficPoint, Variant,
};
use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Checks a definition: two or more variants with distinct names and positive weights, each
/// serving a strategy `known` names.
pub fn validate(experiment: &Experiment, known: impl Fn(&str) -> bool) -> Result<(), String> {
    if experiment.id.trim().is_empty() || experiment.id.len() > 64 {
        return Err("an experiment id is 1 to 64 characters".into());
    }
    if !(2..=8).contains(&experiment.variants.len()) {
        return Err("an experiment needs 2 to 8 variants".into());
    }
    if experiment
        .variants
        .iter()
        .any(|v| !(v.weight.is_finite() && v.weight > 0.0))
    {
        return Err("every variant needs a positive weight".into());
    }
    let mut names: Vec<&str> = experiment
        .variants
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != experiment.variants.len() || names.iter().any(|n| n.trim().is_empty()) {
        return Err("variant names must be distinct and not empty".into());
    }
    if let Some(unknown) = experiment.variants.iter().find(|v| !known(&v.strategy)) {
        return Err(format!("no strategy `{}`", unknown.strategy));
    }
    let guardrail = &experiment.guardrail;
    if !(0.0..=1.0).contains(&guardrail.max_dismiss_rate) {
        return Err("the guardrail's dismiss rate is 0 to 1".into());
    }
    if experiment.conversion_window_secs == 0 {
        return Err("the conversion window must be positive".into());
    }
    Ok(())
}

/// A uniform fraction in [0, 1) from SHA-256 of `salt:user`: the same every time.
pub fn assign_fraction(user: &str, salt: &str) -> f64 {
    let digest = Sha256::digest(format!("{salt}:{user}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    // 53 bits: a uniform fraction in [0, 1) with every value an f64 can tell apart.
    (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64
}

/// The customer's A/B variant (index into `variants`): deterministic, weighted.
pub fn assign(experiment: &Experiment, user: &str) -> usize {
    let fraction = assign_fraction(user, &experiment.salt);
    let total: f64 = experiment.variants.iter().map(|v| v.weight).sum();
    let mut edge = 0.0;
    for (index, variant) in experiment.variants.iter().enumerate() {
        edge += variant.weight / total;
        if fraction < edge {
            return index;
        }
    }
    experiment.variants.len() - 1
}

// Served as it is: the schema's `Interval` (with the `graphql` feature).
/// A proportion with its 95 % Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "Interval")
)]
pub struct Rate {
    /// Successes per trial (0 with no trials).
    pub value: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The 95 % two-sided normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval (Wilson 1927) of `successes` in `trials` at 95 %.
pub fn wilson(successes: u64, trials: u64) -> Rate {
    if trials == 0 {
        return Rate {
            value: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Rate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Two-proportion z-test with pooled variance: (z, two-sided p-value) of `a` against `b`.
pub fn two_proportion_test(
    successes_a: u64,
    trials_a: u64,
    successes_b: u64,
    trials_b: u64,
) -> (f64, f64) {
    if trials_a == 0 || trials_b == 0 {
        return (0.0, 1.0);
    }
    let (na, nb) = (trials_a as f64, trials_b as f64);
    let (pa, pb) = (successes_a as f64 / na, successes_b as f64 / nb);
    let pooled = (successes_a + successes_b) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return (0.0, 1.0);
    }
    let z = (pa - pb) / se;
    (z, 2.0 * (1.0 - standard_normal_cdf(z.abs())))
}

/// Φ(x) by the complementary error function (Numerical Recipes' erfc, |error| < 1.2e-7).
fn standard_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * poly.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

/// One variant's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    /// The variant's name.
    pub name: String,
    /// Its counts.
    pub counts: Counts,
    /// Clicks per impression.
    pub ctr: Rate,
    /// Conversions per impression.
    pub conversion: Rate,
    /// Two-sided p-value of its conversion rate against the control's (1 for the control).
    pub p_value: f64,
    /// Stopped by the guardrail.
    pub stopped: bool,
    /// Its share of all impressions so far.
    pub share: f64,
}

/// The figures of every variant.
pub fn results(experiment: &Experiment, counts: &[Counts], stopped: &[bool]) -> Vec<VariantResult> {
    let control = counts.first().copied().unwrap_or_default();
    let total: u64 = counts.iter().map(|c| c.impressions).sum();
    experiment
        .variants
        .iter()
        .enumerate()
        .map(|(index, variant)| {
            let c = counts.get(index).copied().unwrap_or_default();
            let p_value = if index == 0 {
                1.0
            } else {
                two_proportion_test(
                    c.conversions,
                    c.impressions,
                    control.conversions,
                    control.impressions,
                )
                .1
            };
            VariantResult {
                name: variant.name.clone(),
                counts: c,
                ctr: wilson(c.clicks, c.impressions),
                conversion: wilson(c.conversions, c.impressions),
                p_value,
                stopped: stopped.get(index).copied().unwrap_or(false),
                share: share_of(c.impressions, total),
            }
        })
        .collect()
}

/// `part` as a share of `total`; 0 when nothing was shown.
fn share_of(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// Each bucket's variants with their share of that bucket's lists (0 in an empty bucket).
pub fn traffic_shares(buckets: &[TrafficBucket]) -> Vec<TrafficPoint> {
    let mut totals = std::collections::HashMap::<_, u64>::new();
    for bucket in buckets {
        *totals.entry(bucket.from).or_default() += bucket.impressions;
    }
    buckets
        .iter()
        .map(|bucket| {
            let total = totals[&bucket.from];
            TrafficPoint {
                from: bucket.from,
                variant: bucket.variant.clone(),
                impressions: bucket.impressions,
                share: share_of(bucket.impressions, total),
            }
        })
        .collect()
}

/// Whether `counts` breach `guardrail`.
pub fn breached(guardrail: &Guardrail, counts: &Counts) -> bool {
    counts.impressions >= guardrail.min_impressions
        && wilson(counts.dismissals, counts.impressions).low > guardrail.max_dismiss_rate
}

/// A Thompson-sampling draw: each running arm's conversion rate from its Beta(1 + conversions,
/// 1 + impressions − conversions) posterior, the highest wins. `None` when every arm is
/// stopped.
pub fn thompson(counts: &[Counts], stopped: &[bool], rng: &mut impl Rng) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (index, counts) in counts.iter().enumerate() {
        if stopped.get(index).copied().unwrap_or(false) {
            continue;
        }
        let failures = counts.impressions.saturating_sub(counts.conversions);
        let posterior = Beta::new(1.0 + counts.conversions as f64, 1.0 + failures as f64)
            .expect("positive shape parameters");
        let draw = posterior.sample(rng);
        if best.is_none_or(|(_, best_draw)| draw > best_draw) {
            best = Some((index, draw));
        }
    }
    best.map(|(index, _)| index)
}

/// Thompson sampling over the variants' conversion rates, Beta(1 + conversions,
/// 1 + impressions − conversions) each.
#[derive(Debug, Clone)]
pub struct Bandit {
    counts: Vec<Counts>,
    stopped: Vec<bool>,
    guardrail: Guardrail,
}

impl Bandit {
    /// A bandit over `arms` variants with no data.
    pub fn new(arms: usize, guardrail: Guardrail) -> Self {
        Self {
            counts: vec![Counts::default(); arms],
            stopped: vec![false; arms],
            guardrail,
        }
    }

    /// Picks the variant for the next impression: a draw from each running arm's posterior,
    /// the highest wins. `None` when every arm is stopped.
    pub fn choose(&self, rng: &mut impl Rng) -> Option<usize> {
        thompson(&self.counts, &self.stopped, rng)
    }

    /// Records what an impression of `arm` led to, and applies the guardrail.
    pub fn record(&mut self, arm: usize, clicked: bool, converted: bool, dismissed: bool) {
        let Some(counts) = self.counts.get_mut(arm) else {
            return;
        };
        counts.impressions += 1;
        counts.clicks += u64::from(clicked);
        counts.conversions += u64::from(converted);
        counts.dismissals += u64::from(dismissed);
        if breached(&self.guardrail, counts) {
            self.stopped[arm] = true;
        }
    }

    /// Each arm's counts.
    pub fn counts(&self) -> &[Counts] {
        &self.counts
    }

    /// Which arms the guardrail stopped.
    pub fn stopped(&self) -> &[bool] {
        &self.stopped
    }

    /// Each arm's share of impressions so far.
    pub fn shares(&self) -> Vec<f64> {
        let total: u64 = self.counts.iter().map(|c| c.impressions).sum();
        self.counts
            .iter()
            .map(|c| share_of(c.impressions, total))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traffic_share_is_of_its_own_bucket() {
        let at =
            |minute: i64| chrono::DateTime::from_timestamp(minute * 60, 0).expect("a valid time");
        let bucket = |minute, variant: &str, impressions| TrafficBucket {
            from: at(minute),
            variant: variant.into(),
            impressions,
        };
        let points = traffic_shares(&[
            bucket(0, "control", 30),
            bucket(0, "hybrid", 10),
            bucket(1, "control", 5),
            bucket(1, "hybrid", 15),
            bucket(2, "control", 0),
        ]);
        let shares: Vec<f64> = points.iter().map(|point| point.share).collect();
        assert_eq!(shares, [0.75, 0.25, 0.25, 0.75, 0.0]);
        assert_eq!(points[3].variant, "hybrid");
        assert_eq!(points[3].impressions, 15);
    }

    #[test]
    fn wilson_matches_the_textbook_values() {
        // Reference: statsmodels.stats.proportion.proportion_confint(10, 100, method="wilson")
        // = (0.05522913706067509, 0.17436566150491348), statsmodels 0.15.0.
        let rate = wilson(10, 100);
        assert!((rate.low - 0.055_229_14).abs() < 1e-6, "{rate:?}");
        assert!((rate.high - 0.174_365_66).abs() < 1e-6, "{rate:?}");
        assert_eq!(wilson(0, 0).high, 1.0);
    }

    #[test]
    fn the_two_proportion_test_matches_a_reference() {
        // Reference: statsmodels.stats.proportion.proportions_ztest([60, 40], [500, 500])
        // = (z 2.1081851067789192, p 0.03501498101966254), statsmodels 0.15.0.
        let (z, p) = two_proportion_test(60, 500, 40, 500);
        assert!((z - 2.108_185_106_778_919).abs() < 1e-9, "{z}");
        assert!((p - 0.035_014_981_019_662).abs() < 1e-6, "{p}");
    }
}
