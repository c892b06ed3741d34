-- The feature store's offline values: one row per feature set version, entity and event time,
-- the values kept whole as JSON (finpulse-core's `FeatureRow.values`). Rows are never updated:
-- a point-in-time read takes the newest row at or before the time asked for.
CREATE TABLE feature_row (
    set_name    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    entity_id   TEXT NOT NULL,
    event_ms    BIGINT NOT NULL,
    feature_values TEXT NOT NULL,
    written_ms  BIGINT NOT NULL,
    PRIMARY KEY (set_name, version, entity_id, event_ms)
);
