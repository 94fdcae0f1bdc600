-- The web console (issue #20). Sessions live in the store so that every
-- replica accepts them: the row is keyed by the SHA-256 of the cookie's
-- token (a database reader cannot sign in with what it sees), carries the
-- form token (CSRF) and who signed in, and ends at an idle and an absolute
-- expiry; the platform's admin check is asked again every few minutes
-- (`checked_ms`), so rights taken away in chat end here too. A sign-in
-- through Slack or Discord leaves its state, nonce and PKCE verifier here
-- between the redirect and the callback (one use, short life). Failed sign-ins are counted per source address to rate-limit them.
CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    csrf        TEXT NOT NULL,
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    via         TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    seen_ms     INTEGER NOT NULL,
    checked_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_ms);
CREATE TABLE console_logins (
    state_hash  TEXT PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    secret      TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
);
CREATE TABLE console_failures (
    source      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX console_failures_source ON console_failures (source, at_ms);
