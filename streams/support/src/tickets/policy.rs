//! How a ticket is prioritized and how long its SLA clocks run: pure functions of the ticket
//! and the configured policy, so the rules are read and tested in one place.
//!
//! Priority starts from the category's urgency (fraud and lost or stolen cards are urgent;
//! a blocked card, locked-out access, a missing transfer or a stuck order high; information
//! and feedback low), then is raised one step for each of: negative sentiment, a premium or
//! private-banking customer. A ticket whose category is too unsure to trust ("needs triage")
//! is never ranked below normal on a guess. Every step is written into the ticket's reasons,
//! so an agent sees why.
//!
//! The SLA has two clocks per priority: first response (an agent's first answer) and
//! resolution. A clock is "at risk" once `at_risk_share` of it has run, and "breached" at its
//! end; each of the four stages escalates once, in order.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use finpulse_core::support::{CustomerTier, Sentiment, SlaStage, Ticket, TicketPriority};
use serde::{Deserialize, Serialize};

/// One priority's SLA targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// Minutes until an agent must first answer.
    pub first_response_minutes: u32,
    /// Minutes until the ticket must be solved.
    pub resolution_minutes: u32,
}

/// `[support.tickets]`: triage and SLA rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketPolicy {
    /// Each category's starting priority; a category not listed starts at `normal`.
    pub urgency: BTreeMap<String, TicketPriority>,
    /// Below this classifier confidence a ticket "needs triage" (a person checks the
    /// category).
    pub triage_confidence: f32,
    /// SLA targets per priority (`urgent`, `high`, `normal`, `low`).
    pub sla: BTreeMap<TicketPriority, SlaTargets>,
    /// Share of a clock after which it is at risk (0.8: with a fifth of the time left).
    pub at_risk_share: f32,
    /// How often the SLA watcher looks for clocks that moved, in seconds.
    pub check_every_secs: u64,
}

impl Default for TicketPolicy {
    fn default() -> Self {
        use TicketPriority::{High, Low, Normal, Urgent};
        let urgency = [
            ("card_fraud", Urgent),
            ("card_lost_stolen", Urgent),
            ("card_blocked", High),
            ("account_access", High),
            ("transfer_delayed", High),
            ("trade_execution", High),
            ("statements_tax", Low),
            ("personal_details", Low),
            ("dividends_corporate_actions", Low),
            ("feedback", Low),
        ]
        .into_iter()
        .map(|(category, priority)| (category.to_owned(), priority))
        .collect();
        let targets = |first_response_minutes, resolution_minutes| SlaTargets {
            first_response_minutes,
            resolution_minutes,
        };
        Self {
            urgency,
            triage_confidence: 0.5,
            sla: [
                (Urgent, targets(15, 4 * 60)),
                (High, targets(60, 24 * 60)),
                (Normal, targets(4 * 60, 3 * 24 * 60)),
                (Low, targets(24 * 60, 7 * 24 * 60)),
            ]
            .into_iter()
            .collect(),
            at_risk_share: 0.8,
            check_every_secs: 15,
        }
    }
}

/// The fallback when a priority has no targets configured: the shipped default's.
fn default_targets(priority: TicketPriority) -> SlaTargets {
    TicketPolicy::default().sla[&priority]
}

impl TicketPolicy {
    /// Checks the values; a message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.triage_confidence) {
            return Err("support.tickets.triage_confidence must be between 0 and 1".into());
        }
        if !(self.at_risk_share > 0.0 && self.at_risk_share < 1.0) {
            return Err("support.tickets.at_risk_share must be between 0 and 1".into());
        }
        if self.check_every_secs == 0 {
            return Err("support.tickets.check_every_secs must be at least 1".into());
        }
        for (priority, targets) in &self.sla {
            if targets.first_response_minutes == 0
                || targets.resolution_minutes < targets.first_response_minutes
            {
                return Err(format!(
                    "support.tickets.sla.{}: first_response_minutes must be at least 1 and at most resolution_minutes",
                    priority.as_str()
                ));
            }
        }
        Ok(())
    }

    /// The targets of `priority`.
    pub fn targets(&self, priority: TicketPriority) -> SlaTargets {
        self.sla
            .get(&priority)
            .copied()
            .unwrap_or_else(|| default_targets(priority))
    }

    /// The priority of a ticket in `category` with these signals, and why.
    pub fn prioritize(
        &self,
        category: &str,
        needs_triage: bool,
        sentiment: Option<Sentiment>,
        tier: CustomerTier,
    ) -> (TicketPriority, Vec<String>) {
        let mut reasons = Vec::new();
        let mut priority = match self.urgency.get(category) {
            Some(priority) => {
                reasons.push(format!("category {category} is {}", priority.as_str()));
                *priority
            }
            None => {
                reasons.push(format!("category {category} is normal"));
                TicketPriority::Normal
            }
        };
        if needs_triage && priority > TicketPriority::Normal {
            priority = TicketPriority::Normal;
            reasons.push("the category is unsure, so not below normal".into());
        }
        if sentiment == Some(Sentiment::Negative) {
            priority = priority.raised();
            reasons.push("the customer is upset: raised one step".into());
        }
        if matches!(tier, CustomerTier::Premium | CustomerTier::Private) {
            priority = priority.raised();
            reasons.push(format!(
                "{} customer: raised one step",
                match tier {
                    CustomerTier::Private => "private-banking",
                    _ => "premium",
                }
            ));
        }
        (priority, reasons)
    }

    /// The due times of a ticket of `priority` opened at `at`: first response, resolution.
    pub fn due_times(
        &self,
        priority: TicketPriority,
        at: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let targets = self.targets(priority);
        (
            at + Duration::minutes(i64::from(targets.first_response_minutes)),
            at + Duration::minutes(i64::from(targets.resolution_minutes)),
        )
    }

    /// The time `share` of the way from `start` to `end`.
    fn share_of(start: DateTime<Utc>, end: DateTime<Utc>, share: f32) -> DateTime<Utc> {
        let span = (end - start).num_milliseconds() as f64;
        start + Duration::milliseconds((span * f64::from(share)).round() as i64)
    }

    /// Each stage the ticket's clocks can still reach, with when; in order. The first-response
    /// stages fall away once an agent answered; nothing is left once it is solved.
    fn schedule(&self, ticket: &Ticket) -> Vec<(SlaStage, DateTime<Utc>)> {
        if ticket.solved_at.is_some() {
            return Vec::new();
        }
        let mut stages = Vec::with_capacity(4);
        if ticket.first_response_at.is_none() {
            stages.push((
                SlaStage::FirstResponseAtRisk,
                Self::share_of(
                    ticket.created_at,
                    ticket.first_response_due,
                    self.at_risk_share,
                ),
            ));
            stages.push((SlaStage::FirstResponseBreached, ticket.first_response_due));
        }
        stages.push((
            SlaStage::ResolutionAtRisk,
            Self::share_of(ticket.created_at, ticket.resolution_due, self.at_risk_share),
        ));
        stages.push((SlaStage::ResolutionBreached, ticket.resolution_due));
        stages.retain(|(stage, _)| *stage > ticket.sla_stage);
        stages
    }

    /// The furthest stage the ticket's clocks have reached at `now` beyond its current one,
    /// if any.
    pub fn reached(&self, ticket: &Ticket, now: DateTime<Utc>) -> Option<SlaStage> {
        self.schedule(ticket)
            .into_iter()
            .take_while(|(_, at)| *at <= now)
            .map(|(stage, _)| stage)
            .last()
    }

    /// When the ticket's SLA next moves a stage; `None` when it cannot (solved, or every
    /// stage reached).
    pub fn next_due(&self, ticket: &Ticket) -> Option<DateTime<Utc>> {
        self.schedule(ticket).first().map(|(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use finpulse_core::support::TicketStatus;

    fn ticket(policy: &TicketPolicy, priority: TicketPriority) -> Ticket {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let (first_response_due, resolution_due) = policy.due_times(priority, at);
        Ticket {
            id: "c1".into(),
            customer: "alice".into(),
            subject: "s".into(),
            description: "d".into(),
            language: None,
            category: "card_fraud".into(),
            category_confidence: 0.9,
            needs_triage: false,
            sentiment: None,
            tier: CustomerTier::Standard,
            priority,
            priority_reasons: Vec::new(),
            status: TicketStatus::Open,
            sla_stage: SlaStage::OnTrack,
            created_at: at,
            first_response_due,
            first_response_at: None,
            resolution_due,
            solved_at: None,
            updated_at: at,
        }
    }

    #[test]
    fn fraud_is_urgent_and_upset_premium_customers_move_up() {
        let policy = TicketPolicy::default();
        let (priority, reasons) =
            policy.prioritize("card_fraud", false, None, CustomerTier::Standard);
        assert_eq!(priority, TicketPriority::Urgent);
        assert_eq!(reasons, ["category card_fraud is urgent"]);
        let (priority, _) = policy.prioritize("fees_charges", false, None, CustomerTier::Standard);
        assert_eq!(priority, TicketPriority::Normal, "an unlisted category");
        let (priority, reasons) = policy.prioritize(
            "statements_tax",
            false,
            Some(Sentiment::Negative),
            CustomerTier::Premium,
        );
        assert_eq!(priority, TicketPriority::High, "low, raised twice");
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        let (priority, _) = policy.prioritize(
            "feedback",
            false,
            Some(Sentiment::Positive),
            CustomerTier::Standard,
        );
        assert_eq!(priority, TicketPriority::Low);
    }

    #[test]
    fn an_unsure_category_is_not_ranked_low_on_a_guess() {
        let policy = TicketPolicy::default();
        let (priority, reasons) = policy.prioritize("feedback", true, None, CustomerTier::Standard);
        assert_eq!(priority, TicketPriority::Normal);
        assert!(reasons[1].contains("unsure"), "{reasons:?}");
        let (priority, _) = policy.prioritize("card_fraud", true, None, CustomerTier::Standard);
        assert_eq!(
            priority,
            TicketPriority::Urgent,
            "an unsure urgent guess stays urgent"
        );
    }

    #[test]
    fn the_clocks_reach_their_stages_in_order_and_an_answer_stops_the_first() {
        let policy = TicketPolicy::default();
        let mut t = ticket(&policy, TicketPriority::Urgent);
        let at = |minutes: i64| t.created_at + Duration::minutes(minutes);
        assert_eq!(policy.reached(&t, at(11)), None);
        assert_eq!(policy.next_due(&t), Some(at(12)), "80 % of 15 minutes");
        assert_eq!(
            policy.reached(&t, at(12)),
            Some(SlaStage::FirstResponseAtRisk)
        );
        assert_eq!(
            policy.reached(&t, at(16)),
            Some(SlaStage::FirstResponseBreached)
        );
        t.sla_stage = SlaStage::FirstResponseBreached;
        assert_eq!(policy.next_due(&t), Some(at(192)), "80 % of 4 hours");
        assert_eq!(policy.reached(&t, at(100)), None);
        assert_eq!(
            policy.reached(&t, at(241)),
            Some(SlaStage::ResolutionBreached)
        );
        // Answered in time: the first-response stages never come.
        let mut answered = ticket(&policy, TicketPriority::Urgent);
        answered.first_response_at = Some(answered.created_at + Duration::minutes(5));
        assert_eq!(
            policy.reached(&answered, answered.created_at + Duration::minutes(20)),
            None
        );
        assert_eq!(
            policy.next_due(&answered),
            Some(answered.created_at + Duration::minutes(192))
        );
        answered.solved_at = Some(answered.created_at + Duration::minutes(30));
        assert_eq!(policy.next_due(&answered), None);
    }

    #[test]
    fn bad_values_are_named() {
        let mut policy = TicketPolicy {
            at_risk_share: 1.0,
            ..TicketPolicy::default()
        };
        assert!(policy.validate().unwrap_err().contains("at_risk_share"));
        policy.at_risk_share = 0.8;
        policy.sla.insert(
            TicketPriority::Low,
            SlaTargets {
                first_response_minutes: 60,
                resolution_minutes: 30,
            },
        );
        assert!(policy.validate().unwrap_err().contains("sla.low"));
    }
}
