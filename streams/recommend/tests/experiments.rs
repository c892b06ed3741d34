//! Experiments: bucketing is deterministic and balanced; the bandit finds the better arm and the
//! guardrail stops a bad one, in seeded simulations.

use finpulse_recommend::experiments::{
    Bandit, Experiment, Guardrail, Mode, Status, Variant, assign, validate,
};
use rand::{Rng, SeedableRng};

fn experiment(weights: &[f64]) -> Experiment {
    Experiment {
        id: "e1".into(),
        description: String::new(),
        salt: "spring-2026".into(),
        variants: weights
            .iter()
            .enumerate()
            .map(|(n, weight)| Variant {
                name: format!("v{n}"),
                strategy: format!("s{n}"),
                weight: *weight,
            })
            .collect(),
        mode: Mode::AbTest,
        guardrail: Guardrail::default(),
        conversion_window_secs: 3600,
        status: Status::Draft,
        created_at: chrono::Utc::now(),
        started_at: None,
        stopped_at: None,
        stopped_variants: Vec::new(),
    }
}

#[test]
fn bucketing_is_deterministic_and_balanced() {
    let even = experiment(&[1.0, 1.0]);
    let users: Vec<String> = (0..100_000).map(|n| format!("user-{n}")).collect();
    let first: Vec<usize> = users.iter().map(|u| assign(&even, u)).collect();
    let again: Vec<usize> = users.iter().map(|u| assign(&even, u)).collect();
    assert_eq!(first, again);
    let share = first.iter().filter(|&&v| v == 1).count() as f64 / users.len() as f64;
    // 100,000 fair coin flips: 4 standard deviations is ±0.63 %.
    assert!((share - 0.5).abs() < 0.0063, "share {share}");
    let weighted = experiment(&[1.0, 3.0]);
    let share =
        users.iter().filter(|u| assign(&weighted, u) == 1).count() as f64 / users.len() as f64;
    assert!((share - 0.75).abs() < 0.0055, "share {share}");
    // Another salt reshuffles: about half the users change variant.
    let mut resalted = even.clone();
    resalted.salt = "autumn-2026".into();
    let moved = users
        .iter()
        .filter(|u| assign(&resalted, u) != assign(&even, u))
        .count() as f64
        / users.len() as f64;
    assert!((moved - 0.5).abs() < 0.01, "moved {moved}");
    let known = |name: &str| name.starts_with('s');
    assert!(validate(&even, known).is_ok());
    assert!(validate(&experiment(&[1.0]), known).is_err());
    assert!(validate(&experiment(&[1.0, 0.0]), known).is_err());
    assert!(validate(&even, |_| false).is_err(), "unknown strategies");
}

#[test]
fn the_bandit_moves_traffic_to_the_better_arm() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let conversion = [0.04, 0.08, 0.05];
    let mut bandit = Bandit::new(
        3,
        Guardrail {
            max_dismiss_rate: 1.0,
            min_impressions: 200,
        },
    );
    for _ in 0..20_000 {
        let arm = bandit.choose(&mut rng).unwrap();
        let converted = rng.random_bool(conversion[arm]);
        bandit.record(arm, converted, converted, false);
    }
    let shares = bandit.shares();
    assert!(shares[1] > 0.7, "shares {shares:?}");
    // The last impressions go even more to the best arm than the average does.
    let late: Vec<usize> = (0..2_000)
        .map(|_| bandit.choose(&mut rng).unwrap())
        .collect();
    let late_share = late.iter().filter(|&&a| a == 1).count() as f64 / late.len() as f64;
    assert!(late_share > 0.85, "late share {late_share}");
}

#[test]
fn the_guardrail_stops_an_arm_that_annoys() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let dismiss = [0.05, 0.5];
    // The annoying arm converts better, so only the guardrail keeps it from winning.
    let conversion = [0.05, 0.10];
    let mut bandit = Bandit::new(
        2,
        Guardrail {
            max_dismiss_rate: 0.2,
            min_impressions: 100,
        },
    );
    for _ in 0..5_000 {
        let Some(arm) = bandit.choose(&mut rng) else {
            break;
        };
        let converted = rng.random_bool(conversion[arm]);
        bandit.record(arm, converted, converted, rng.random_bool(dismiss[arm]));
    }
    assert_eq!(bandit.stopped(), [false, true]);
    assert!(
        bandit.counts()[1].impressions < 1_000,
        "{:?}",
        bandit.counts()
    );
}
