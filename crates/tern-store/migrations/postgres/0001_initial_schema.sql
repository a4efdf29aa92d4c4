-- Conversation storage. Every table leads its primary key with tenant_id.
-- Timestamps are unix milliseconds.

CREATE TABLE conversations (
    tenant_id       TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    -- Incremented by every committed turn. Writers check it instead of locking.
    version         BIGINT NOT NULL,
    -- seq of the newest event, so that appending needs no MAX(seq) scan.
    last_seq        BIGINT NOT NULL,
    state           JSONB  NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- Set by a turn before it calls webhooks: until claim_until (unix ms),
    -- only claim_owner may commit, so no other instance calls them too.
    claim_owner     TEXT,
    claim_until     BIGINT,
    PRIMARY KEY (tenant_id, conversation_id)
);

-- Finds the conversations to prune by age.
CREATE INDEX conversations_updated_at ON conversations (updated_at);

CREATE TABLE events (
    tenant_id       TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    kind            TEXT   NOT NULL,
    payload         JSONB  NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES conversations (tenant_id, conversation_id)
);

CREATE TABLE processed_messages (
    tenant_id       TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    -- TEXT, not JSONB, so that a replayed response is byte for byte the
    -- first one: JSONB does not keep the order of object keys.
    response        TEXT   NOT NULL,
    request_digest  TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, message_id),
    FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES conversations (tenant_id, conversation_id)
);

-- No foreign key to conversations: a file may arrive before the first turn
-- of its conversation commits.
CREATE TABLE uploads (
    tenant_id       TEXT   NOT NULL,
    upload_id       TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    content_type    TEXT   NOT NULL,
    size            BIGINT NOT NULL,
    data            BYTEA  NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, upload_id)
);

CREATE INDEX uploads_conversation ON uploads (tenant_id, conversation_id);

-- Finds uploads whose conversation never committed, to prune them by age.
CREATE INDEX uploads_created_at ON uploads (created_at);
