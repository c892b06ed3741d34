//! The tickets' Prometheus metrics.

use prometheus::{IntCounterVec, Opts, Registry};

/// The tickets' metrics.
#[derive(Debug, Clone)]
pub struct TicketMetrics {
    /// `finpulse_support_tickets_opened_total{priority}`.
    pub opened: IntCounterVec,
    /// `finpulse_support_sla_escalations_total{stage}`.
    pub escalations: IntCounterVec,
}

impl TicketMetrics {
    /// The metrics, counted but rendered nowhere until registered.
    pub fn unregistered() -> Self {
        Self {
            opened: IntCounterVec::new(
                Opts::new(
                    "finpulse_support_tickets_opened_total",
                    "Tickets opened or reopened, by priority",
                ),
                &["priority"],
            )
            .expect("the metric's definition is valid"),
            escalations: IntCounterVec::new(
                Opts::new(
                    "finpulse_support_sla_escalations_total",
                    "SLA stages reached and escalated, by stage",
                ),
                &["stage"],
            )
            .expect("the metric's definition is valid"),
        }
    }

    /// Registers them in `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.opened.clone()))?;
        registry.register(Box::new(self.escalations.clone()))
    }
}
