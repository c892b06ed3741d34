-- Market data and per-user state for the PostgreSQL store: the twin of
-- migrations/sqlite/0001_market.sql. Timestamps are Unix epoch milliseconds (BIGINT), the
-- same values SQLite keeps, so one set of statements serves both engines.

CREATE TABLE quotes (
    symbol      TEXT PRIMARY KEY NOT NULL,
    price       DOUBLE PRECISION NOT NULL,
    bid         DOUBLE PRECISION NOT NULL,
    ask         DOUBLE PRECISION NOT NULL,
    volume      DOUBLE PRECISION NOT NULL,
    day_open    DOUBLE PRECISION NOT NULL,
    ts_ms       BIGINT NOT NULL
);

CREATE TABLE candles (
    symbol          TEXT NOT NULL,
    interval_secs   BIGINT NOT NULL,
    start_ms        BIGINT NOT NULL,
    open            DOUBLE PRECISION NOT NULL,
    high            DOUBLE PRECISION NOT NULL,
    low             DOUBLE PRECISION NOT NULL,
    close           DOUBLE PRECISION NOT NULL,
    volume          DOUBLE PRECISION NOT NULL,
    trades          BIGINT NOT NULL,
    PRIMARY KEY (symbol, interval_secs, start_ms)
);

CREATE TABLE insights (
    id          TEXT PRIMARY KEY NOT NULL,
    symbol      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    ts_ms       BIGINT NOT NULL,
    -- JSON text, as in SQLite: the store reads and writes it whole.
    indicators  TEXT NOT NULL
);
CREATE INDEX insights_symbol_ts ON insights (symbol, ts_ms DESC);

CREATE TABLE watchlist (
    user_id     TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    added_ms    BIGINT NOT NULL,
    PRIMARY KEY (user_id, symbol)
);

-- Events that could not be decoded or processed: kept whole so nothing is lost, with the reason.
CREATE TABLE parked_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    log_offset  BIGINT NOT NULL,
    event_key   TEXT,
    payload     BYTEA NOT NULL,
    reason      TEXT NOT NULL,
    parked_ms   BIGINT NOT NULL
);
