-- The recommender's experiments: definitions (whole, as JSON in the shape of finpulse-core's
-- `Experiment`) and one row per list shown under one, flagged with what came of it.
CREATE TABLE rec_experiment (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE rec_impression (
    recommendation_id TEXT PRIMARY KEY,
    experiment_id     TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    -- the shown item ids, a JSON array: only outcomes on these count
    items             TEXT NOT NULL,
    at_ms             BIGINT NOT NULL,
    -- outcomes after this do not count (the experiment's conversion window)
    expires_ms        BIGINT NOT NULL,
    -- 0 or 1: integers, so SUM() reads the same on both engines
    clicked           BIGINT NOT NULL,
    converted         BIGINT NOT NULL,
    dismissed         BIGINT NOT NULL
);
CREATE INDEX rec_impression_experiment ON rec_impression (experiment_id, at_ms);
