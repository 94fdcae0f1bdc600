-- Time-limited exceptions granted by admins: a user or a channel may post
-- banned meeting links until `until_ms`, unless revoked earlier.
CREATE TABLE exceptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('user', 'channel')),
    target_id   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    granted_by  TEXT NOT NULL,
    granted_ms  INTEGER NOT NULL,
    until_ms    INTEGER NOT NULL,
    revoked_ms  INTEGER,
    revoked_by  TEXT
);
CREATE INDEX exceptions_target ON exceptions (platform, target_kind, target_id, until_ms);
