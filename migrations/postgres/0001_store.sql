-- linkguard store, PostgreSQL schema. Timestamps are epoch milliseconds, hashes
-- lowercase hex, JSON is stored as text: the same shape as the PostgreSQL
-- schema so one set of portable queries serves both.

-- The audit log: a hash chain ordered by the gap-free `seq`.
CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY NOT NULL,
    at_ms          BIGINT NOT NULL,
    platform       TEXT NOT NULL,
    workspace      TEXT,
    channel        TEXT,
    thread         TEXT,
    message_id     TEXT,
    revision       TEXT,
    author         TEXT,
    kind           TEXT NOT NULL,
    rule_id        TEXT,
    policy_version BIGINT,
    provider       TEXT,
    link           TEXT,
    alternative    TEXT,
    action         TEXT,
    outcome        TEXT,
    detail         TEXT,
    message_text   TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);

-- The head of the chain: one row, locked by every append so the chain stays
-- linear, and compared with the last record by `verify` (catches a deleted tail).
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Where `verify` starts after a purge: the last purged record's seq and hash.
CREATE TABLE audit_checkpoint (
    seq       BIGINT PRIMARY KEY NOT NULL,
    hash      TEXT NOT NULL,
    at_ms     BIGINT NOT NULL
);

-- Idempotency keys of inbound events (platform + message id + revision).
CREATE TABLE event_keys (
    event_key     TEXT PRIMARY KEY NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL
);
CREATE INDEX event_keys_expires ON event_keys (expires_ms);

-- Detections whose action has no recorded outcome yet.
CREATE TABLE pending_actions (
    detection_seq BIGINT PRIMARY KEY NOT NULL,
    event_key     TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);

-- Policy versions: gap-free `version`, exactly one row with active = 1.
CREATE TABLE policy_versions (
    version  BIGINT PRIMARY KEY NOT NULL,
    body     TEXT NOT NULL,
    author   TEXT NOT NULL,
    at_ms    BIGINT NOT NULL,
    source   TEXT NOT NULL,
    active   BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX policy_versions_one_active ON policy_versions (active) WHERE active = 1;

-- The webhook linkguard created in each Discord channel.
CREATE TABLE discord_webhooks (
    channel_id    TEXT PRIMARY KEY NOT NULL,
    webhook_id    TEXT NOT NULL,
    webhook_token TEXT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

-- Small runtime settings (e.g. the bot's mode).
CREATE TABLE settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
