-- The support desk: the FAQ knowledge base, conversations, their participants and messages.
-- Values are kept whole as JSON in the shape of finpulse-core's support types; the columns
-- beside them are what queries select and order by.
CREATE TABLE sup_faq_entry (
    id          TEXT NOT NULL,
    language    TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (id, language)
);

CREATE TABLE sup_conversation (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    data         TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL
);
CREATE INDEX sup_conversation_customer ON sup_conversation (customer_id, updated_ms);
CREATE INDEX sup_conversation_status ON sup_conversation (status, updated_ms);

-- Everyone who took part: the customer, the bot, each agent who claimed or was given it.
CREATE TABLE sup_participant (
    conversation_id  TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    role             TEXT NOT NULL,
    joined_ms        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id, role)
);

CREATE TABLE sup_message (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL,
    data             TEXT NOT NULL,
    at_ms            BIGINT NOT NULL
);
CREATE INDEX sup_message_conversation ON sup_message (conversation_id, at_ms, id);
