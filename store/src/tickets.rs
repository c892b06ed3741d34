//! The support desk's tickets on the SQL engines (`migrations/*/0008_support_tickets.sql`).
//!
//! A ticket is stored whole as JSON beside the columns the queue and the SLA watcher select
//! and order by. Every replacement is conditional on the version read (`updated_ms`), so two
//! writers (the processor moving a conversation on, the watcher escalating) never lose each
//! other's change: the loser reads again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use finpulse_core::support::{Ticket, TicketStatus};
use tracing::instrument;

use crate::sql::{decode_all, to_ms};
use crate::{Result, SqlStore, TicketData};

/// Most rows one listing call returns.
const MAX_LIMIT: u32 = 10_000;

fn encode(ticket: &Ticket) -> String {
    serde_json::to_string(ticket).expect("tickets serialise")
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds `$1`…`$9` of a ticket write: id, customer, status, priority rank, SLA level, next
/// due time, the whole ticket, created and updated times.
fn bind_ticket<'q>(
    query: AnyQuery<'q>,
    ticket: &'q Ticket,
    next_due: Option<DateTime<Utc>>,
) -> AnyQuery<'q> {
    query
        .bind(&ticket.id)
        .bind(&ticket.customer)
        .bind(ticket.status.as_str())
        .bind(ticket.priority.rank())
        .bind(ticket.sla_stage.level())
        .bind(next_due.map(to_ms))
        .bind(encode(ticket))
        .bind(to_ms(ticket.created_at))
        .bind(to_ms(ticket.updated_at))
}

#[async_trait]
impl TicketData for SqlStore {
    #[instrument(skip_all, fields(ticket = %ticket.id), err)]
    async fn create_ticket(
        &self,
        ticket: &Ticket,
        next_due: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let insert = sqlx::query(
            "INSERT INTO sup_ticket (id, customer_id, status, priority, sla_stage, next_due_ms,
                 data, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        );
        let done = bind_ticket(insert, ticket, next_due)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip_all, fields(ticket = %ticket.id), err)]
    async fn replace_ticket(
        &self,
        ticket: &Ticket,
        read_at: DateTime<Utc>,
        next_due: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        // The customer never changes; the version check makes this a compare-and-swap.
        let update = sqlx::query(
            "UPDATE sup_ticket SET status = $3, priority = $4, sla_stage = $5, next_due_ms = $6,
                 data = $7, created_ms = $8, updated_ms = $9
             WHERE id = $1 AND customer_id = $2 AND updated_ms = $10",
        );
        let done = bind_ticket(update, ticket, next_due)
            .bind(to_ms(read_at))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        let rows = sqlx::query("SELECT data FROM sup_ticket WHERE id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(decode_all(rows, "ticket")?.into_iter().next())
    }

    async fn tickets_in(&self, status: TicketStatus, limit: u32) -> Result<Vec<Ticket>> {
        let rows = sqlx::query(
            "SELECT data FROM sup_ticket WHERE status = $1
             ORDER BY priority, created_ms, id LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, "ticket")
    }

    async fn tickets_of(
        &self,
        customer: &str,
        status: Option<TicketStatus>,
        limit: u32,
    ) -> Result<Vec<Ticket>> {
        // The status is filtered here, before the limit: a customer's 50 newest tickets may
        // all be solved while an older one is still open.
        let rows = sqlx::query(
            "SELECT data FROM sup_ticket
             WHERE customer_id = $1 AND (CAST($3 AS TEXT) IS NULL OR status = $3)
             ORDER BY created_ms DESC, id LIMIT $2",
        )
        .bind(customer)
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .bind(status.map(TicketStatus::as_str))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, "ticket")
    }

    async fn tickets_due(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<Ticket>> {
        let rows = sqlx::query(
            "SELECT data FROM sup_ticket
             WHERE status = $1 AND next_due_ms IS NOT NULL AND next_due_ms <= $2
             ORDER BY next_due_ms, id LIMIT $3",
        )
        .bind(TicketStatus::Open.as_str())
        .bind(to_ms(at))
        .bind(i64::from(limit.min(MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, "ticket")
    }
}
