//! Properties: whatever the scores, profiles and rules, nothing unsuitable is ever selected,
//! and nothing suitable is left out while the list has room and no cap stops it (an empty
//! selection would pass the first alone).

use std::collections::HashSet;

use chrono::Utc;
use finpulse_core::recommend::{AssetClass, Experience, Item, ItemKind, UserProfile};
use finpulse_recommend::rules::{Context, Rules, Suitability, attribute_similarity};
use proptest::prelude::*;

fn experience() -> impl Strategy<Value = Experience> {
    prop_oneof![
        Just(Experience::Beginner),
        Just(Experience::Intermediate),
        Just(Experience::Experienced)
    ]
}

fn items() -> impl Strategy<Value = Vec<(Item, f32)>> {
    prop::collection::vec(
        (1u8..=7, any::<bool>(), 0usize..4, 0usize..3, -5.0f32..5.0),
        1..60,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(n, (risk, complex, sector, kind, score))| {
                let kind = [ItemKind::Instrument, ItemKind::Article, ItemKind::News][kind];
                let item = Item {
                    id: format!("i{n}"),
                    kind,
                    name: format!("item {n}"),
                    asset_class: (kind == ItemKind::Instrument).then_some(AssetClass::Etf),
                    sector: ["tech", "banks", "energy", "bonds"][sector].into(),
                    region: "global".into(),
                    currency: None,
                    risk: (kind == ItemKind::Instrument).then_some(risk),
                    complex,
                    fees_bps: None,
                    esg: None,
                    tags: vec![],
                    description: String::new(),
                    published_at: None,
                };
                (item, score)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn no_selection_breaks_suitability(
        risk_profile in 1u8..=7,
        experience in experience(),
        margin in 0u8..3,
        lambda in 0.0f32..=1.0,
        cap in 0usize..4,
        k in 0usize..20,
        candidates in items(),
        held in prop::collection::vec(0usize..60, 0..5),
    ) {
        let user = UserProfile {
            id: "u".into(),
            risk_profile,
            experience,
            country: "DE".into(),
            interests: vec![],
            holdings: held.iter().map(|n| format!("i{n}")).collect(),
        };
        let dismissed: HashSet<String> = ["i1".to_owned(), "i2".to_owned()].into();
        let rules = Rules {
            suitability: Suitability { risk_margin: margin, ..Suitability::default() },
            per_sector_cap: cap,
            diversity_lambda: lambda,
            ..Rules::default()
        };
        let context = Context { user: &user, dismissed: &dismissed, now: Utc::now() };
        let picked = rules.select(context, candidates.iter().map(|(item, score)| (item, *score)), k, attribute_similarity);
        prop_assert!(picked.len() <= k);
        for (item, _) in &picked {
            if item.kind == ItemKind::Instrument {
                prop_assert!(item.risk.unwrap() <= risk_profile + margin, "{} risk {:?} for profile {risk_profile}+{margin}", item.id, item.risk);
                prop_assert!(!item.complex || experience == Experience::Experienced, "complex {} for {experience:?}", item.id);
            }
            prop_assert!(!dismissed.contains(&item.id));
            prop_assert!(!user.holdings.contains(&item.id));
        }
        if cap > 0 {
            for sector in ["tech", "banks", "energy", "bonds"] {
                prop_assert!(picked.iter().filter(|(item, _)| item.sector == sector).count() <= cap);
            }
        }
        let ids: HashSet<&str> = picked.iter().map(|(item, _)| item.id.as_str()).collect();
        prop_assert_eq!(ids.len(), picked.len(), "an item picked twice");
        // Written out here, apart from the rules: what the customer may be shown at all.
        let allowed = |item: &Item| {
            item.kind != ItemKind::Instrument
                || (item.risk.unwrap_or(7) <= risk_profile + margin
                    && (!item.complex || experience == Experience::Experienced))
        };
        let eligible: Vec<&Item> = candidates
            .iter()
            .map(|(item, _)| item)
            .filter(|item| allowed(item) && !dismissed.contains(&item.id) && !user.holdings.contains(&item.id))
            .collect();
        if cap == 0 {
            prop_assert_eq!(picked.len(), k.min(eligible.len()), "a short list with room and no cap");
        } else if picked.len() < k {
            // Every eligible item left out is in a sector the cap has filled.
            for item in eligible.iter().filter(|item| !ids.contains(item.id.as_str())) {
                let in_sector = picked.iter().filter(|(p, _)| p.sector == item.sector).count();
                prop_assert_eq!(in_sector, cap, "{} left out of a list with room", item.id);
            }
        }
    }
}
