//! The live recommender over the demo catalogue: a new interaction changes the list at once.

use chrono::{Duration, TimeZone, Utc};
use finpulse_core::recommend::{Experience, Interaction, InteractionKind, ItemKind, UserProfile};
use finpulse_recommend::catalogue::Catalogue;
use finpulse_recommend::models::{CfConfig, CfKind, EaseConfig};
use finpulse_recommend::recommender::{Recommender, SNAPSHOT_FORMAT, UserState, Weights};
use finpulse_recommend::rules::Rules;
use rand::{Rng, SeedableRng, seq::IndexedRandom};

fn profile(id: &str, risk_profile: u8, experience: Experience) -> UserProfile {
    UserProfile {
        id: id.into(),
        risk_profile,
        experience,
        country: "DE".into(),
        interests: vec![],
        holdings: vec![],
    }
}

fn interaction(user: &str, item: &str, kind: InteractionKind, minutes: i64) -> Interaction {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes);
    Interaction {
        user: user.into(),
        item: item.into(),
        kind,
        rating: None,
        recommendation_id: None,
        at,
    }
}

/// 400 customers in four taste groups, each engaging with items of their group's sector.
fn population(catalogue: &Catalogue) -> Vec<UserState> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let sectors = ["technology", "clean energy", "financials", "health care"];
    let weights = Weights::default();
    (0..400)
        .map(|n| {
            let sector = sectors[n % 4];
            let pool: Vec<&str> = catalogue
                .items()
                .iter()
                .filter(|item| item.sector == sector)
                .map(|item| item.id.as_str())
                .collect();
            let mut state = UserState::new(profile(&format!("u{n}"), 7, Experience::Experienced));
            for minute in 0..rng.random_range(4..9) {
                let item = pool.choose(&mut rng).unwrap();
                state.record(
                    &interaction(
                        &state.profile.id.clone(),
                        item,
                        InteractionKind::Click,
                        minute,
                    ),
                    &weights,
                );
            }
            state
        })
        .collect()
}

fn recommender() -> Recommender {
    recommender_of(CfKind::Ease)
}

fn recommender_of(kind: CfKind) -> Recommender {
    let catalogue = Catalogue::demo();
    let users = population(&catalogue);
    let config = CfConfig {
        kind,
        ease: EaseConfig { lambda: 10.0 },
        ..CfConfig::default()
    };
    let rules = Rules {
        per_sector_cap: 0,
        ..Rules::default()
    };
    Recommender::train(
        catalogue,
        &users,
        &config,
        Weights::default(),
        rules,
        "test-1",
    )
    .unwrap()
}

fn instruments_in(recommender: &Recommender, sector: &str) -> Vec<String> {
    let items = recommender.catalogue().items().iter();
    items
        .filter(|item| item.sector == sector && item.kind == ItemKind::Instrument)
        .map(|item| item.id.clone())
        .collect()
}

fn sector_count(recommender: &Recommender, ids: &[String], sector: &str) -> usize {
    ids.iter()
        .filter(|id| recommender.catalogue().get(id).unwrap().sector == sector)
        .count()
}

#[test]
fn saving_items_of_another_taste_reorders_the_list_at_once() {
    let recommender = recommender();
    let now = Utc::now();
    let mut me = UserState::new(profile("me", 7, Experience::Experienced));
    let tech = instruments_in(&recommender, "technology");
    for (minute, item) in tech.iter().take(3).enumerate() {
        me.record(
            &interaction("me", item, InteractionKind::Click, minute as i64),
            recommender.weights(),
        );
    }
    let before = recommender.recommend(&me, 10, &[ItemKind::Instrument], now);
    assert_eq!(before.model, "ease");
    assert_eq!(before.model_version, "test-1");
    let before_ids: Vec<String> = before.items.iter().map(|r| r.item.clone()).collect();
    assert!(
        sector_count(&recommender, &before_ids, "technology") >= 5,
        "{before:?}"
    );
    assert!(
        before.items[0]
            .explanation
            .starts_with("because you looked at "),
        "{before:?}"
    );

    let green = instruments_in(&recommender, "clean energy");
    for (minute, item) in green.iter().take(3).enumerate() {
        me.record(
            &interaction("me", item, InteractionKind::Save, 10 + minute as i64),
            recommender.weights(),
        );
    }
    let after = recommender.recommend(&me, 10, &[ItemKind::Instrument], now);
    let after_ids: Vec<String> = after.items.iter().map(|r| r.item.clone()).collect();
    assert_ne!(before_ids, after_ids);
    assert!(
        sector_count(&recommender, &after_ids, "clean energy") >= 5,
        "{after:?}"
    );
    assert!(
        after.items[0].explanation.starts_with("because you saved "),
        "{after:?}"
    );
    // saved items are the customer's own: not recommended back
    assert!(after_ids.iter().all(|id| !green[..3].contains(id)));

    me.record(
        &interaction("me", &after_ids[0], InteractionKind::Dismiss, 30),
        recommender.weights(),
    );
    let dismissed = recommender.recommend(&me, 10, &[ItemKind::Instrument], now);
    assert!(dismissed.items.iter().all(|r| r.item != after_ids[0]));
}

#[test]
fn a_new_customer_gets_their_segments_favourites_within_their_risk_profile() {
    let recommender = recommender();
    let mut cautious = profile("new", 3, Experience::Beginner);
    cautious.interests = vec!["bonds".into()];
    let list = recommender.recommend(&UserState::new(cautious), 10, &[], Utc::now());
    assert_eq!(list.model, "popularity");
    assert_eq!(list.items.len(), 10);
    for recommended in &list.items {
        let item = recommender.catalogue().get(&recommended.item).unwrap();
        assert!(item.risk.unwrap_or(1) <= 3 && !item.complex, "{item:?}");
    }
    assert!(
        list.items
            .iter()
            .any(|r| r.explanation == "matches your interest in bonds"),
        "{list:?}"
    );
}

/// What another replica serves after loading the stored bytes: the same lists, scores and
/// explanations, for every kind of customer (warm, cold, of each segment), with either model.
#[test]
fn a_model_read_back_from_its_bytes_ranks_exactly_as_the_one_trained() {
    for kind in [CfKind::Ease, CfKind::Als] {
        let trained = recommender_of(kind);
        let bytes = trained.to_bytes();
        let loaded =
            Recommender::from_bytes(&bytes, Weights::default(), trained_rules(), None).unwrap();
        assert_eq!(loaded.version(), "test-1");
        assert_eq!(loaded.model_name(), trained.model_name());
        assert_eq!(loaded.catalogue().len(), trained.catalogue().len());
        let now = Utc::now();
        let tech = instruments_in(&trained, "technology");
        let mut customers = vec![
            UserState::new(profile("newcomer", 3, Experience::Beginner)),
            UserState::new(profile("bold", 7, Experience::Experienced)),
        ];
        let mut warm = UserState::new(profile("u1", 6, Experience::Experienced));
        for (minute, item) in tech.iter().take(4).enumerate() {
            warm.record(
                &interaction("u1", item, InteractionKind::Save, minute as i64),
                trained.weights(),
            );
        }
        customers.push(warm);
        for customer in &customers {
            for kinds in [&[][..], &[ItemKind::Instrument][..]] {
                assert_eq!(
                    loaded.recommend(customer, 20, kinds, now),
                    trained.recommend(customer, 20, kinds, now),
                    "{kind:?}, {}",
                    customer.profile.id
                );
            }
        }
        assert_eq!(
            loaded
                .similar_items(&tech[0], 5)
                .iter()
                .map(|(item, score)| (item.id.clone(), *score))
                .collect::<Vec<_>>(),
            trained
                .similar_items(&tech[0], 5)
                .iter()
                .map(|(item, score)| (item.id.clone(), *score))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn bytes_of_another_format_or_damaged_are_refused_by_name() {
    let bytes = recommender().to_bytes();
    let read = |bytes: &[u8]| {
        Recommender::from_bytes(bytes, Weights::default(), trained_rules(), None)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    // The format number leads; a future one is refused, not misread.
    let mut future = bytes.clone();
    assert_eq!(future[0] as u32, SNAPSHOT_FORMAT);
    future[0] = (SNAPSHOT_FORMAT + 1) as u8;
    let refusal = read(&future);
    assert!(
        refusal.contains(&format!("written in format {}", SNAPSHOT_FORMAT + 1)),
        "{refusal}"
    );
    assert!(read(&bytes[..bytes.len() / 2]).contains("unreadable"));
    assert!(read(&[]).contains("unreadable"));
}

fn trained_rules() -> Rules {
    Rules {
        per_sector_cap: 0,
        ..Rules::default()
    }
}
