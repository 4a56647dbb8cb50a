-- Lockstep's embedded schema. Times are integer milliseconds since the Unix
-- epoch (UTC). Hot tables use integer keys in insertion order; the ids
-- clients send are secondary unique indexes.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE admins (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    email       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE integrations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL,
    record_type  TEXT    NOT NULL,
    spec         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Records are never removed: a delete sets deleted_at, so the deactivation
-- can still be pushed and ids are never reused.
CREATE TABLE records (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL,
    record_type  TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    fields       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER,
    UNIQUE (tenant_id, record_type, external_id)
);

-- The scheduler's durable rows: one per (record, integration).
CREATE TABLE sync_states (
    record_id            INTEGER NOT NULL,
    integration_id       INTEGER NOT NULL,
    tenant_id            INTEGER NOT NULL,
    status               TEXT    NOT NULL,
    due_at               INTEGER,
    pending_since        INTEGER,
    claim                INTEGER NOT NULL DEFAULT 0,
    attempts             INTEGER NOT NULL DEFAULT 0,
    changed_during_sync  INTEGER NOT NULL DEFAULT 0,
    last_synced_at       INTEGER,
    errors               TEXT    NOT NULL DEFAULT '[]',
    remote_id            TEXT,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (record_id, integration_id)
) WITHOUT ROWID;

-- Claims scan only live work, in due order.
CREATE INDEX sync_states_due ON sync_states (due_at)
    WHERE status IN ('sync_pending', 'syncing');
CREATE INDEX sync_states_integration ON sync_states (integration_id);
