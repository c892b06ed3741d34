-- The recommender's catalogue, customers and interactions.
-- Items and profiles are kept whole as JSON (the shape of finpulse-core's `Item` and
-- `UserProfile`), with the columns reads filter on beside them.
CREATE TABLE rec_item (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX rec_item_kind ON rec_item (kind, id);

CREATE TABLE rec_user (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

-- One row per interaction. The key makes a redelivered event (same user, item, kind and
-- time) a no-op.
CREATE TABLE rec_interaction (
    user_id           TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    at_ms             BIGINT NOT NULL,
    -- 0 when the interaction carries no rating (ratings are 1 to 5; sqlx's Any driver
    -- cannot bind a NULL float to PostgreSQL)
    rating            REAL NOT NULL,
    recommendation_id TEXT,
    PRIMARY KEY (user_id, item_id, kind, at_ms)
);
CREATE INDEX rec_interaction_at ON rec_interaction (at_ms);
CREATE INDEX rec_interaction_user ON rec_interaction (user_id, at_ms);
