-- Admins' bearer tokens get a table of their own, so an admin can hold
-- several, each with a label, an optional expiry and a revocation time.
--
-- A token is kept as its SHA-256 (`token_hash`, unique across tenants: a
-- token names one admin), with its first characters (`prefix`, not secret)
-- so a listing can say which token is which. Tokens are never deleted; a
-- revoked one keeps its row and `revoked_at`.
--
-- Every admin's existing token moves here (its prefix is unknown: only
-- the hash was ever kept), and `admins` is rebuilt without `token_hash`
-- (SQLite cannot drop a UNIQUE column in place). Nothing referenced
-- `admins`, so the old table can go before the new one takes its name;
-- `admin_tokens` is made to reference the new table, and the rename
-- carries the reference over.
CREATE TABLE admins_rebuilt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    email       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, email)
);
INSERT INTO admins_rebuilt (id, tenant_id, email, name, created_at)
    SELECT id, tenant_id, email, name, created_at FROM admins;
-- Ids are never reused: the new table goes on from where the old one was.
UPDATE sqlite_sequence
    SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'admins'), 0))
    WHERE name = 'admins_rebuilt';

CREATE TABLE admin_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    admin_id    INTEGER NOT NULL REFERENCES admins_rebuilt (id),
    token_hash  TEXT    NOT NULL UNIQUE,
    prefix      TEXT,
    label       TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
INSERT INTO admin_tokens (tenant_id, admin_id, token_hash, created_at)
    SELECT tenant_id, id, token_hash, created_at FROM admins ORDER BY id;
-- Listing a tenant's tokens, or one admin's.
CREATE INDEX admin_tokens_by_tenant ON admin_tokens (tenant_id, admin_id);

DROP TABLE admins;
ALTER TABLE admins_rebuilt RENAME TO admins;
