-- Trained models kept for every replica (finpulse-core's `ModelArtifact`): the bytes of each
-- version and a JSON summary, and per model name the one version served. Replicas poll
-- model_serving and load the bytes of a version they do not hold yet.
CREATE TABLE model_artifact (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    summary     TEXT NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_serving (
    name        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
