-- Streaming state a processor keeps per key (the market processor: per symbol), saved after each
-- batch with the log position it reflects, so a worker that takes a partition over continues
-- from where the previous owner stopped instead of starting cold.
CREATE TABLE processor_state (
    processor       TEXT NOT NULL,
    state_key       TEXT NOT NULL,
    log_partition   INTEGER NOT NULL,
    log_offset      BIGINT NOT NULL,
    state           TEXT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    PRIMARY KEY (processor, state_key)
);
