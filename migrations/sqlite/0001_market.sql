-- Market data and per-user state for the embedded (SQLite) store.
-- Timestamps are Unix epoch milliseconds (INTEGER) so the PostgreSQL twin can use BIGINT
-- with the same values and the same queries.

CREATE TABLE quotes (
    symbol      TEXT PRIMARY KEY NOT NULL,
    price       REAL NOT NULL,
    bid         REAL NOT NULL,
    ask         REAL NOT NULL,
    volume      REAL NOT NULL,
    day_open    REAL NOT NULL,
    ts_ms       INTEGER NOT NULL
);

CREATE TABLE candles (
    symbol          TEXT NOT NULL,
    interval_secs   INTEGER NOT NULL,
    start_ms        INTEGER NOT NULL,
    open            REAL NOT NULL,
    high            REAL NOT NULL,
    low             REAL NOT NULL,
    close           REAL NOT NULL,
    volume          REAL NOT NULL,
    trades          INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval_secs, start_ms)
);

CREATE TABLE insights (
    id          TEXT PRIMARY KEY NOT NULL,
    symbol      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    indicators  TEXT NOT NULL
);
CREATE INDEX insights_symbol_ts ON insights (symbol, ts_ms DESC);

CREATE TABLE watchlist (
    user_id     TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    added_ms    INTEGER NOT NULL,
    PRIMARY KEY (user_id, symbol)
);

-- Events that could not be decoded or processed: kept whole so nothing is lost, with the reason.
CREATE TABLE parked_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    log_offset  INTEGER NOT NULL,
    event_key   TEXT,
    payload     BLOB NOT NULL,
    reason      TEXT NOT NULL,
    parked_ms   INTEGER NOT NULL
);
