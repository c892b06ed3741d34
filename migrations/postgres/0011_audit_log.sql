-- The audit trail: agents' and admins' reads of customers' data and every privileged change,
-- append-only. Each row's hash covers its fields and the previous row's hash, so an edited or
-- removed row breaks the chain (`finpulse audit verify`). Nothing in finpulse updates or
-- deletes a row here.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    roles      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT,
    target     TEXT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
