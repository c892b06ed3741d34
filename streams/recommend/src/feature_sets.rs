//! The recommender's feature sets, how they are computed, and the feature store that keeps
//! them (offline rows for training, online rows for serving).
//!
//! Sets are declared here in code ([`sets`]): `user_engagement@1` (a customer's activity over
//! the 30 days before the event time) and `item_popularity@1` (an item's engagement over the 7
//! days before, and its trend against the 7 days before that). A [`Materializer`] is fed
//! interactions in any order and computes every entity's row *as of* a time from the
//! interactions at or before it only, so a row never knows its future; the same holds for
//! reads: [`FeatureStore::as_of`] answers with the newest row at or before each time asked, what
//! a training set needs for each label.
//!
//! Serving reads the online store: the popularity strategy ranks by `item_popularity`'s recent
//! engagement (see [`crate::rank`]), and every list names the feature-set versions it used.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use finpulse_core::feature_store::{
    Entity, FeatureRow, FeatureSet, FeatureSpec, FeatureSummary, FeatureType, FeatureValue,
};
use finpulse_core::recommend::{Interaction, InteractionKind, Item, ItemKind};
use finpulse_store::{FeatureData, OnlineFeatures};

use crate::RecommendError;

/// The customer-activity set's name.
pub const USER_ENGAGEMENT: &str = "user_engagement";
/// The item-popularity set's name.
pub const ITEM_POPULARITY: &str = "item_popularity";
/// The price-momentum set's name (instruments with end-of-day prices; see [`crate::momentum`]).
pub const ITEM_MOMENTUM: &str = "item_momentum";

fn spec(name: &str, kind: FeatureType, description: &str) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        kind,
        description: description.into(),
    }
}

/// The feature sets the recommender declares, every version of each.
pub fn sets() -> Vec<FeatureSet> {
    use FeatureType::{Float, Int};
    vec![
        FeatureSet {
            name: USER_ENGAGEMENT.into(),
            version: 1,
            entity: Entity::User,
            features: vec![
                spec("interactions_30d", Int, "interactions of any kind"),
                spec("clicks_30d", Int, "items opened"),
                spec("saves_30d", Int, "items saved"),
                spec("buys_30d", Int, "instruments bought"),
                spec("dismiss_rate_30d", Float, "dismissals per interaction"),
                spec("distinct_sectors_30d", Int, "sectors engaged with"),
                spec(
                    "mean_risk_engaged_30d",
                    Float,
                    "mean risk class of the instruments engaged with (0: none)",
                ),
                spec("active_days_30d", Int, "days with an interaction"),
            ],
            source: "rec_interaction and rec_item: the customer's interactions in the 30 days \
                     up to the event time"
                .into(),
        },
        FeatureSet {
            name: ITEM_POPULARITY.into(),
            version: 1,
            entity: Entity::Item,
            features: vec![
                spec(
                    "engagements_7d",
                    Int,
                    "interactions other than dismissals in the last 7 days",
                ),
                spec(
                    "engaged_users_7d",
                    Int,
                    "customers who engaged in the last 7 days",
                ),
                spec("saves_7d", Int, "saves and buys in the last 7 days"),
                spec("dismissals_7d", Int, "dismissals in the last 7 days"),
                spec(
                    "trend_7d",
                    Float,
                    "(engagements in the last 7 days + 1) / (in the 7 days before + 1)",
                ),
            ],
            source: "rec_interaction: the item's interactions in the 14 days up to the event time"
                .into(),
        },
        FeatureSet {
            name: ITEM_MOMENTUM.into(),
            version: 1,
            entity: Entity::Item,
            features: vec![
                spec("close", Float, "the last daily close known"),
                spec(
                    "return_5d",
                    Float,
                    "log return over the last 5 daily closes",
                ),
                spec(
                    "return_20d",
                    Float,
                    "log return over the last 20 daily closes",
                ),
                spec(
                    "volatility_20d",
                    Float,
                    "standard deviation of the daily log returns over the last 20 closes",
                ),
                spec("days", Int, "daily closes the 20-day window had"),
            ],
            source: "candles: the instrument's daily bars (symbol = item id) that had closed by \
                     the event time; instruments without prices have no row"
                .into(),
        },
    ]
}

/// The `item_momentum@1` rows as of `as_of` from each instrument's daily candles.
pub fn momentum_rows<'a>(
    set: &FeatureSet,
    as_of: DateTime<Utc>,
    candles: impl IntoIterator<Item = (&'a str, &'a [finpulse_core::market::Candle])>,
) -> Vec<FeatureRow> {
    candles
        .into_iter()
        .filter_map(|(item, candles)| {
            let m = crate::momentum::Momentum::from_candles(candles, as_of)?;
            let values = [
                ("close", FeatureValue::Float(m.close)),
                ("return_5d", FeatureValue::Float(m.return_short)),
                ("return_20d", FeatureValue::Float(m.return_long)),
                ("volatility_20d", FeatureValue::Float(m.volatility)),
                ("days", FeatureValue::Int(m.days as i64)),
            ];
            Some(FeatureRow {
                set: set.name.clone(),
                version: set.version,
                entity_id: item.to_owned(),
                event_time: as_of,
                values: values
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
            })
        })
        .collect()
}

#[derive(Debug, Default)]
struct UserAggregate {
    interactions: i64,
    clicks: i64,
    saves: i64,
    buys: i64,
    dismissals: i64,
    sectors: HashSet<String>,
    risk_sum: f64,
    risk_count: u32,
    days: HashSet<i64>,
}

#[derive(Debug, Default)]
struct ItemAggregate {
    engagements: i64,
    previous: i64,
    users: HashSet<String>,
    saves: i64,
    dismissals: i64,
}

/// Computes the rows of every set as of one time from interactions fed in any order.
#[derive(Debug)]
pub struct Materializer {
    as_of: DateTime<Utc>,
    items: HashMap<String, (String, Option<u8>, ItemKind)>,
    users: BTreeMap<String, UserAggregate>,
    item_rows: BTreeMap<String, ItemAggregate>,
}

impl Materializer {
    /// Rows as of `as_of`, over the catalogue `items` (for sectors and risk classes).
    pub fn new<'a>(as_of: DateTime<Utc>, items: impl IntoIterator<Item = &'a Item>) -> Self {
        let items: HashMap<String, (String, Option<u8>, ItemKind)> = items
            .into_iter()
            .map(|item| (item.id.clone(), (item.sector.clone(), item.risk, item.kind)))
            .collect();
        // Every catalogue item gets a row, engaged or not: "nobody looked" is a value too.
        let item_rows = items
            .keys()
            .map(|id| (id.clone(), ItemAggregate::default()))
            .collect();
        Self {
            as_of,
            items,
            users: BTreeMap::new(),
            item_rows,
        }
    }

    /// Takes interactions in; those after the time materialized are left out.
    pub fn feed(&mut self, interactions: &[Interaction]) {
        for interaction in interactions {
            let age = self.as_of - interaction.at;
            if age < Duration::zero() {
                continue;
            }
            if age <= Duration::days(30) {
                let user = self.users.entry(interaction.user.clone()).or_default();
                user.interactions += 1;
                match interaction.kind {
                    InteractionKind::Click => user.clicks += 1,
                    InteractionKind::Save => user.saves += 1,
                    InteractionKind::Buy => user.buys += 1,
                    InteractionKind::Dismiss => user.dismissals += 1,
                    _ => {}
                }
                user.days
                    .insert(interaction.at.timestamp().div_euclid(86_400));
                if let Some((sector, risk, kind)) = self.items.get(&interaction.item)
                    && interaction.kind != InteractionKind::Dismiss
                {
                    if !sector.is_empty() {
                        user.sectors.insert(sector.clone());
                    }
                    if *kind == ItemKind::Instrument
                        && let Some(risk) = risk
                    {
                        user.risk_sum += f64::from(*risk);
                        user.risk_count += 1;
                    }
                }
            }
            let Some(item) = self.item_rows.get_mut(&interaction.item) else {
                continue;
            };
            let dismissed = interaction.kind == InteractionKind::Dismiss;
            if age <= Duration::days(7) {
                if dismissed {
                    item.dismissals += 1;
                } else {
                    item.engagements += 1;
                    item.users.insert(interaction.user.clone());
                    if matches!(
                        interaction.kind,
                        InteractionKind::Save | InteractionKind::Buy
                    ) {
                        item.saves += 1;
                    }
                }
            } else if age <= Duration::days(14) && !dismissed {
                item.previous += 1;
            }
        }
    }

    /// The rows of `set` (one of [`sets`]); an unknown set has none.
    pub fn rows(&self, set: &FeatureSet) -> Vec<FeatureRow> {
        let row = |entity_id: &String, values: Vec<(&str, FeatureValue)>| FeatureRow {
            set: set.name.clone(),
            version: set.version,
            entity_id: entity_id.clone(),
            event_time: self.as_of,
            values: values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        };
        match (set.name.as_str(), set.version) {
            (USER_ENGAGEMENT, 1) => self
                .users
                .iter()
                .map(|(id, user)| {
                    let mean_risk = if user.risk_count == 0 {
                        0.0
                    } else {
                        user.risk_sum / f64::from(user.risk_count)
                    };
                    row(
                        id,
                        vec![
                            ("interactions_30d", FeatureValue::Int(user.interactions)),
                            ("clicks_30d", FeatureValue::Int(user.clicks)),
                            ("saves_30d", FeatureValue::Int(user.saves)),
                            ("buys_30d", FeatureValue::Int(user.buys)),
                            (
                                "dismiss_rate_30d",
                                FeatureValue::Float(
                                    user.dismissals as f64 / user.interactions.max(1) as f64,
                                ),
                            ),
                            (
                                "distinct_sectors_30d",
                                FeatureValue::Int(user.sectors.len() as i64),
                            ),
                            ("mean_risk_engaged_30d", FeatureValue::Float(mean_risk)),
                            ("active_days_30d", FeatureValue::Int(user.days.len() as i64)),
                        ],
                    )
                })
                .collect(),
            (ITEM_POPULARITY, 1) => self
                .item_rows
                .iter()
                .map(|(id, item)| {
                    row(
                        id,
                        vec![
                            ("engagements_7d", FeatureValue::Int(item.engagements)),
                            (
                                "engaged_users_7d",
                                FeatureValue::Int(item.users.len() as i64),
                            ),
                            ("saves_7d", FeatureValue::Int(item.saves)),
                            ("dismissals_7d", FeatureValue::Int(item.dismissals)),
                            (
                                "trend_7d",
                                FeatureValue::Float(
                                    (item.engagements + 1) as f64 / (item.previous + 1) as f64,
                                ),
                            ),
                        ],
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Checks a row against its set: every declared feature present with its type, nothing else.
pub fn check_row(set: &FeatureSet, row: &FeatureRow) -> Result<(), String> {
    if row.set != set.name || row.version != set.version {
        return Err(format!(
            "a row of {}@{} is not of {}",
            row.set,
            row.version,
            set.key()
        ));
    }
    for feature in &set.features {
        match row.values.get(&feature.name) {
            Some(value) if value.is(feature.kind) => {}
            Some(_) => {
                return Err(format!(
                    "{}: {} is not {:?}",
                    set.key(),
                    feature.name,
                    feature.kind
                ));
            }
            None => return Err(format!("{}: {} is missing", set.key(), feature.name)),
        }
    }
    if row.values.len() != set.features.len() {
        return Err(format!("{}: a row has undeclared features", set.key()));
    }
    Ok(())
}

/// The feature store: the declared sets over the offline and online backends.
pub struct FeatureStore {
    offline: Arc<dyn FeatureData>,
    online: Arc<dyn OnlineFeatures>,
    sets: Vec<FeatureSet>,
}

impl std::fmt::Debug for FeatureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self.sets.iter().map(FeatureSet::key).collect();
        f.debug_struct("FeatureStore")
            .field("sets", &keys)
            .finish_non_exhaustive()
    }
}

impl FeatureStore {
    /// The recommender's sets over these backends.
    pub fn new(offline: Arc<dyn FeatureData>, online: Arc<dyn OnlineFeatures>) -> Self {
        Self {
            offline,
            online,
            sets: sets(),
        }
    }

    /// Every declared set, every version.
    pub fn sets(&self) -> &[FeatureSet] {
        &self.sets
    }

    /// A set by name and version (the newest version when none is given).
    pub fn set(&self, name: &str, version: Option<u32>) -> Result<&FeatureSet, RecommendError> {
        self.sets
            .iter()
            .filter(|set| set.name == name && version.is_none_or(|v| v == set.version))
            .max_by_key(|set| set.version)
            .ok_or_else(|| {
                let known: Vec<String> = self.sets.iter().map(FeatureSet::key).collect();
                RecommendError::NotFound(format!(
                    "no feature set `{}{}` (known: {})",
                    name.chars().take(64).collect::<String>(),
                    version.map(|v| format!("@{v}")).unwrap_or_default(),
                    known.join(", ")
                ))
            })
    }

    /// Writes `set`'s rows offline and online, after checking each against the set.
    pub async fn write(&self, set: &FeatureSet, rows: &[FeatureRow]) -> Result<(), RecommendError> {
        for row in rows {
            check_row(set, row).map_err(RecommendError::InvalidInput)?;
        }
        self.offline.write_feature_rows(rows).await?;
        self.online.put(rows).await.map_err(RecommendError::from)
    }

    /// The newest rows of these entities (online).
    pub async fn online(
        &self,
        set: &FeatureSet,
        entities: &[String],
    ) -> Result<Vec<Option<FeatureRow>>, RecommendError> {
        self.online
            .get(&set.name, set.version, entities)
            .await
            .map_err(RecommendError::from)
    }

    /// Point in time: for each (entity, time), the newest row of that entity at or before that
    /// time (offline), `None` when there is none yet. What a training set reads for its labels.
    pub async fn as_of(
        &self,
        set: &FeatureSet,
        requests: &[(String, DateTime<Utc>)],
    ) -> Result<Vec<Option<FeatureRow>>, RecommendError> {
        let mut entities: Vec<String> = requests.iter().map(|(e, _)| e.clone()).collect();
        entities.sort_unstable();
        entities.dedup();
        let rows = self
            .offline
            .feature_rows(&set.name, set.version, &entities)
            .await?;
        let mut by_entity: HashMap<&str, Vec<&FeatureRow>> = HashMap::new();
        for row in &rows {
            by_entity
                .entry(row.entity_id.as_str())
                .or_default()
                .push(row);
        }
        for history in by_entity.values_mut() {
            history.sort_by_key(|row| row.event_time);
        }
        Ok(requests
            .iter()
            .map(|(entity, at)| {
                let history = by_entity.get(entity.as_str())?;
                let known = history.partition_point(|row| row.event_time <= *at);
                known.checked_sub(1).map(|last| history[last].clone())
            })
            .collect())
    }

    /// Entities with offline rows, in id order, at most `limit`.
    pub async fn entities(
        &self,
        set: &FeatureSet,
        limit: u32,
    ) -> Result<Vec<String>, RecommendError> {
        self.offline
            .feature_entities(&set.name, set.version, limit)
            .await
            .map_err(RecommendError::from)
    }

    /// How much the offline store holds of `set`.
    pub async fn summary(&self, set: &FeatureSet) -> Result<FeatureSummary, RecommendError> {
        self.offline
            .feature_summary(&set.name, set.version)
            .await
            .map_err(RecommendError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn interaction(
        user: &str,
        item: &str,
        kind: InteractionKind,
        when: DateTime<Utc>,
    ) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            kind,
            rating: None,
            recommendation_id: None,
            at: when,
        }
    }

    #[test]
    fn a_materialized_row_knows_nothing_after_its_time() {
        let catalogue = crate::catalogue::Catalogue::demo();
        let item = catalogue.items()[0].id.clone();
        let history = vec![
            interaction("ann", &item, InteractionKind::Click, at(20, 9)),
            interaction("ann", &item, InteractionKind::Save, at(25, 9)),
            interaction("ann", &item, InteractionKind::Dismiss, at(28, 9)),
            // after the time materialized: must not count
            interaction("ann", &item, InteractionKind::Buy, at(29, 9)),
            interaction("ben", &item, InteractionKind::Click, at(29, 10)),
        ];
        let mut materializer = Materializer::new(at(28, 12), catalogue.items());
        materializer.feed(&history);
        let sets = sets();
        let users = materializer.rows(&sets[0]);
        assert_eq!(users.len(), 1, "ben's only interaction is in the future");
        let ann = &users[0].values;
        assert_eq!(ann["interactions_30d"], FeatureValue::Int(3));
        assert_eq!(ann["buys_30d"], FeatureValue::Int(0));
        assert_eq!(ann["dismiss_rate_30d"], FeatureValue::Float(1.0 / 3.0));
        assert_eq!(ann["active_days_30d"], FeatureValue::Int(3));
        let items = materializer.rows(&sets[1]);
        assert_eq!(items.len(), catalogue.len(), "every item has a row");
        let row = items.iter().find(|r| r.entity_id == item).unwrap();
        // In the 7 days before the 28th noon: the save (25th) and the dismissal (28th); the
        // click of the 20th is in the 7 days before those.
        assert_eq!(row.values["engagements_7d"], FeatureValue::Int(1));
        assert_eq!(row.values["dismissals_7d"], FeatureValue::Int(1));
        assert_eq!(row.values["trend_7d"], FeatureValue::Float(2.0 / 2.0));
        for row in users.iter().chain(&items) {
            check_row(
                if row.set == USER_ENGAGEMENT {
                    &sets[0]
                } else {
                    &sets[1]
                },
                row,
            )
            .unwrap();
        }
    }

    #[test]
    fn rows_are_checked_against_their_set() {
        let set = &sets()[1];
        let mut row = FeatureRow {
            set: set.name.clone(),
            version: 1,
            entity_id: "x".into(),
            event_time: at(1, 0),
            values: BTreeMap::new(),
        };
        assert!(check_row(set, &row).unwrap_err().contains("missing"));
        for feature in &set.features {
            row.values
                .insert(feature.name.clone(), FeatureValue::Int(1));
        }
        assert!(
            check_row(set, &row).unwrap_err().contains("trend_7d"),
            "a float feature"
        );
        row.values
            .insert("trend_7d".into(), FeatureValue::Float(1.0));
        check_row(set, &row).unwrap();
        row.values
            .insert("surprise".into(), FeatureValue::Bool(true));
        assert!(check_row(set, &row).is_err());
    }
}
