-- Lockstep's PostgreSQL schema.
--
-- Every hot table has a BIGINT identity key, so inserts append to the end of
-- the primary-key index (PERFORMANCE-NOTES: sequential keys are an order of
-- magnitude cheaper than random ones). The ids clients choose are secondary
-- unique keys. Times are timestamptz, stored at millisecond precision by the
-- store; JSON is JSONB.

CREATE TABLE tenants (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE admins (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT admins_tenant_email_key UNIQUE (tenant_id, email),
    CONSTRAINT admins_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE integrations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    record_type TEXT NOT NULL,
    spec        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT integrations_tenant_name_key UNIQUE (tenant_id, name),
    -- The target of sync_states' tenant-checked foreign key.
    CONSTRAINT integrations_tenant_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE records (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    record_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    fields      JSONB NOT NULL,
    -- 0 only inside the write transaction that reserved the key (see records.rs).
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ,
    CONSTRAINT records_external_id_key UNIQUE (tenant_id, record_type, external_id)
);

-- list_records: live records of a type in id order.
CREATE INDEX records_live_by_id ON records (tenant_id, record_type, id) WHERE deleted_at IS NULL;

-- No foreign keys here, on purpose: every new state would take a key-share
-- lock on its integration's row, and concurrent batches writing states of the
-- same few integrations then contend on those rows (multixacts), which made
-- creates ~7x slower than updates in the batch benchmark. Records are never
-- hard-deleted, and deleting an integration deletes its states in the same
-- transaction (integrations.rs); the store writes states only for the
-- tenant's own integrations, which the conformance suite checks.
CREATE TABLE sync_states (
    record_id           BIGINT NOT NULL,
    integration_id      BIGINT NOT NULL,
    tenant_id           BIGINT NOT NULL,
    status              TEXT NOT NULL
        CHECK (status IN ('sync_pending', 'syncing', 'synced', 'sync_failed')),
    due_at              TIMESTAMPTZ,
    pending_since       TIMESTAMPTZ,
    claim               BIGINT NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    changed_during_sync BOOLEAN NOT NULL DEFAULT FALSE,
    last_synced_at      TIMESTAMPTZ,
    errors              JSONB NOT NULL DEFAULT '[]',
    remote_id           TEXT,
    updated_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (record_id, integration_id)
);

-- The scheduler's queue: only states that can become due are indexed.
CREATE INDEX sync_states_due ON sync_states (due_at)
    WHERE status IN ('sync_pending', 'syncing');
-- Deleting an integration's states, and per-tenant lookups.
CREATE INDEX sync_states_integration ON sync_states (tenant_id, integration_id);
