-- The support desk's agents: everyone who has worked the desk with the `agent` role (or was
-- listed in `support.agents`). A conversation is transferred only to one of them.
CREATE TABLE sup_agent (
    user_id        TEXT PRIMARY KEY,
    first_seen_ms  BIGINT NOT NULL,
    last_seen_ms   BIGINT NOT NULL
);
