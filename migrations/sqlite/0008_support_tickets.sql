-- The support desk's tickets: one per conversation that needed a human (its id is the
-- conversation's), kept whole as JSON in the shape of finpulse-core's Ticket. `next_due_ms`
-- is when its SLA next moves a stage (NULL once solved): the SLA watcher reads by it.
-- `updated_ms` only grows: a write names the version it read and loses to a newer one.
CREATE TABLE sup_ticket (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    priority     SMALLINT NOT NULL,
    sla_stage    SMALLINT NOT NULL,
    next_due_ms  BIGINT,
    data         TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);
CREATE INDEX sup_ticket_due ON sup_ticket (status, next_due_ms);
CREATE INDEX sup_ticket_queue ON sup_ticket (status, priority, created_ms);
CREATE INDEX sup_ticket_customer ON sup_ticket (customer_id, created_ms);
