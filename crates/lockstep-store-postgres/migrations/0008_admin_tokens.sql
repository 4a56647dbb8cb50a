-- Admins' bearer tokens get a table of their own, so an admin can hold
-- several, each with a label, an optional expiry and a revocation time.
--
-- A token is kept as its SHA-256 (`token_hash`, unique across tenants: a
-- token names one admin), with its first characters (`prefix`, not secret)
-- so a listing can say which token is which. Tokens are never deleted; a
-- revoked one keeps its row and `revoked_at`. Every request looks its
-- token up here, by one probe of the unique index, so a revocation
-- committed by any process refuses the token on the next request
-- everywhere.
--
-- Every admin's existing token moves here (its prefix is unknown: only the
-- hash was ever kept), and `admins.token_hash` goes: a process of an older
-- version, still looking tokens up there, then refuses every token instead
-- of honouring one revoked here.
CREATE TABLE admin_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    admin_id    BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL,
    prefix      TEXT,
    label       TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    CONSTRAINT admin_tokens_token_hash_key UNIQUE (token_hash)
);
-- Listing a tenant's tokens, or one admin's.
CREATE INDEX admin_tokens_by_tenant ON admin_tokens (tenant_id, admin_id);

INSERT INTO admin_tokens (tenant_id, admin_id, token_hash, created_at)
    SELECT tenant_id, id, token_hash, created_at FROM admins ORDER BY id;

ALTER TABLE admins DROP COLUMN token_hash;
