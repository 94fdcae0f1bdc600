-- Exception requests: an employee asks for a time-limited exception, an admin
-- approves or denies it. A request is a small state machine
-- (pending -> approved | denied | cancelled | expired) kept beside the
-- exceptions it may grant. `delivered_state` is the last state a connector
-- showed on its platform (the admin channel message, the requester's notice);
-- a row whose `state` differs is waiting to be delivered, leased to one
-- process at a time by `delivery_lease_ms`.
CREATE TABLE exception_requests (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    platform          TEXT NOT NULL,
    workspace         TEXT NOT NULL,
    requester_id      TEXT NOT NULL,
    requester_name    TEXT NOT NULL,
    target_kind       TEXT NOT NULL CHECK (target_kind IN ('user', 'channel')),
    target_id         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    reason            TEXT NOT NULL,
    duration_secs     INTEGER NOT NULL CHECK (duration_secs > 0),
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'expired')),
    created_ms        INTEGER NOT NULL,
    decided_by        TEXT,
    decided_ms        INTEGER,
    note              TEXT,
    exception_id      INTEGER,
    admin_channel     TEXT,
    admin_message     TEXT,
    delivered_state   TEXT NOT NULL DEFAULT '',
    delivery_lease_ms INTEGER
);
CREATE INDEX exception_requests_open ON exception_requests (platform, workspace, state, created_ms);
CREATE INDEX exception_requests_requester ON exception_requests (platform, workspace, requester_id, state);
CREATE INDEX exception_requests_delivery ON exception_requests (platform, delivered_state, state);
