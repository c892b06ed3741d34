//! The recommender's events and channels: interactions on the log, lists on the fan-out.

use bytes::Bytes;
use finpulse_bus::EventLog;
use finpulse_bus::envelope::{Envelope, EventPayload};
use finpulse_core::recommend::{Interaction, InteractionKind};
use serde::{Deserialize, Serialize};

use crate::RecommendError;

/// Log topic of customers' interactions, keyed by user.
pub const INTERACTIONS_TOPIC: &str = "user.interactions";
/// Where the recommend processor sets aside interactions it cannot read.
pub const INTERACTIONS_DEAD_LETTER_TOPIC: &str = "user.interactions.dead-letter";

/// The longest user or item id accepted.
pub const MAX_ID_LEN: usize = 128;

/// An interaction as the log carries it (envelope type `user.interaction`, version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InteractionEvent(pub Interaction);

/// Appends `interaction` to [`INTERACTIONS_TOPIC`], keyed by its user so one customer's
/// history stays in order on one partition: what the API's `trackInteraction` and
/// `finpulse import interactions` onto Kafka both do. The interaction is checked first.
pub async fn append_interaction(
    log: &dyn EventLog,
    interaction: Interaction,
) -> Result<(), RecommendError> {
    validate_interaction(&interaction).map_err(RecommendError::InvalidInput)?;
    let event = InteractionEvent(interaction);
    let envelope =
        Envelope::wrap(&event).map_err(|e| RecommendError::InvalidInput(e.to_string()))?;
    let bytes = envelope
        .to_bytes()
        .map_err(|e| RecommendError::InvalidInput(e.to_string()))?;
    log.append(INTERACTIONS_TOPIC, &event.0.user, Bytes::from(bytes))
        .await?;
    Ok(())
}

impl EventPayload for InteractionEvent {
    const TYPE: &'static str = "user.interaction";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.0.user
    }

    fn validate(&self) -> Result<(), String> {
        validate_interaction(&self.0)
    }
}

/// The one rule for an interaction, on every way in (the log, the API, the import).
pub fn validate_interaction(interaction: &Interaction) -> Result<(), String> {
    for (what, id) in [("user", &interaction.user), ("item", &interaction.item)] {
        if id.trim().is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(format!(
                "{what} id must be 1 to {MAX_ID_LEN} printable characters"
            ));
        }
    }
    let rating: Result<(), String> = match (interaction.kind, interaction.rating) {
        (InteractionKind::Rate, Some(rating)) if (1.0..=5.0).contains(&rating) => Ok(()),
        (InteractionKind::Rate, _) => Err("a rate interaction needs a rating from 1 to 5".into()),
        (_, Some(_)) => Err("only a rate interaction carries a rating".into()),
        (_, None) => Ok(()),
    };
    rating?;
    if let Some(id) = &interaction.recommendation_id
        && (id.is_empty() || id.len() > MAX_ID_LEN)
    {
        return Err(format!(
            "recommendation id must be 1 to {MAX_ID_LEN} characters"
        ));
    }
    Ok(())
}

/// The fan-out channel of one customer's live recommendations. Built here only.
pub fn recommendations_channel(user: &str) -> String {
    format!("recommendations.{user}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn interaction(kind: InteractionKind, rating: Option<f32>) -> Interaction {
        Interaction {
            user: "u".into(),
            item: "i".into(),
            kind,
            rating,
            recommendation_id: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn ratings_belong_to_rate_interactions_only() {
        assert!(validate_interaction(&interaction(InteractionKind::Rate, Some(4.0))).is_ok());
        assert!(validate_interaction(&interaction(InteractionKind::Rate, None)).is_err());
        assert!(validate_interaction(&interaction(InteractionKind::Rate, Some(6.0))).is_err());
        assert!(validate_interaction(&interaction(InteractionKind::Click, Some(3.0))).is_err());
        let mut long = interaction(InteractionKind::Click, None);
        long.item = "x".repeat(129);
        assert!(validate_interaction(&long).is_err());
    }
}
