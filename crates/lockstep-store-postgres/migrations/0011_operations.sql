-- Sync Overviews (saved previews of a full sync) and Sync Now runs with
-- their logs. An overview's validity is computed when read (newest of its
-- integration, younger than the tenant's validity period): no flag here.
-- Neither refers to `integrations`: a Sync Log outlives its integration.
CREATE TABLE overviews (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    integration_id  BIGINT NOT NULL,
    created_by      BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          TEXT NOT NULL,
    error           TEXT,
    summary         JSONB NOT NULL DEFAULT '{}',
    backgrounded    BOOLEAN NOT NULL DEFAULT false
);
-- The newest overview of an integration.
CREATE INDEX overviews_by_integration ON overviews (integration_id, id);

CREATE TABLE overview_changes (
    overview_id  BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    action       TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    remote_id    TEXT,
    detail       JSONB NOT NULL,
    PRIMARY KEY (overview_id, seq)
);
CREATE INDEX overview_changes_by_action ON overview_changes (overview_id, action, seq);

CREATE TABLE sync_runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    integration_id  BIGINT NOT NULL,
    overview_id     BIGINT,
    started_by      BIGINT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          TEXT NOT NULL,
    error           TEXT,
    created         BIGINT NOT NULL DEFAULT 0,
    updated         BIGINT NOT NULL DEFAULT 0,
    deactivated     BIGINT NOT NULL DEFAULT 0,
    unchanged       BIGINT NOT NULL DEFAULT 0,
    failed          BIGINT NOT NULL DEFAULT 0,
    backgrounded    BOOLEAN NOT NULL DEFAULT false
);
-- One run per integration at a time.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (integration_id) WHERE status = 'running';
CREATE INDEX sync_runs_by_integration ON sync_runs (tenant_id, integration_id, id);

-- Sync Logs never expire: entries are only ever added.
CREATE TABLE sync_run_log (
    run_id       BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    external_id  TEXT NOT NULL,
    action       TEXT NOT NULL,
    attributes   JSONB NOT NULL,
    outcome      TEXT NOT NULL,
    errors       JSONB NOT NULL DEFAULT '[]',
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX sync_run_log_by_outcome ON sync_run_log (run_id, outcome, seq);
