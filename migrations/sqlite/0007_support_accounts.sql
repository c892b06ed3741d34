-- The account facts the support desk's replies may quote (name, tier, cards), one row per
-- customer, kept whole as JSON in the shape of finpulse-core's CustomerAccount.
CREATE TABLE sup_customer (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
