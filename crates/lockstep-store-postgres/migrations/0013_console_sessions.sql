-- The admin console's sign-in links and the browser sessions they become,
-- one row each: a link is asked for with an admin's token, and following
-- it (once, in time) stores the session cookie's hash on the same row
-- (console.rs). Both secrets are kept only as their SHA-256, each behind a
-- unique index, so a sign-in and every console request find their row by
-- one probe. `session_hash` is NULL until the link is followed (a unique
-- constraint lets any number of rows hold NULL).
CREATE TABLE console_sessions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    admin_id         BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_id         BIGINT NOT NULL REFERENCES admin_tokens (id) ON DELETE CASCADE,
    link_hash        TEXT NOT NULL,
    link_expires_at  TIMESTAMPTZ NOT NULL,
    session_hash     TEXT,
    signed_in_at     TIMESTAMPTZ,
    expires_at       TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT console_sessions_link_hash_key UNIQUE (link_hash),
    CONSTRAINT console_sessions_session_hash_key UNIQUE (session_hash)
);
