-- The admin console's sign-in links and the browser sessions they become,
-- one row each: a link is asked for with an admin's token, and following
-- it (once, in time) stores the session cookie's hash on the same row.
-- Both secrets are kept only as their SHA-256, each behind a unique index,
-- so a sign-in and every console request find their row by one probe.
-- `session_hash` is NULL until the link is followed (SQLite lets any
-- number of rows hold NULL under UNIQUE).
CREATE TABLE console_sessions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    admin_id         INTEGER NOT NULL REFERENCES admins (id),
    token_id         INTEGER NOT NULL REFERENCES admin_tokens (id),
    link_hash        TEXT    NOT NULL UNIQUE,
    link_expires_at  INTEGER NOT NULL,
    session_hash     TEXT    UNIQUE,
    signed_in_at     INTEGER,
    expires_at       INTEGER,
    ended_at         INTEGER,
    created_at       INTEGER NOT NULL
);
