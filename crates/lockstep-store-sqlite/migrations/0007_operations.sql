-- Sync Overviews (saved previews of a full sync) and Sync Now runs with
-- their logs. An overview's validity is computed when read (newest of its
-- integration, younger than the tenant's validity period): no flag here.
-- Neither refers to `integrations`: a Sync Log outlives its integration.
CREATE TABLE overviews (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    integration_id  INTEGER NOT NULL,
    created_by      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    status          TEXT    NOT NULL,
    error           TEXT,
    summary         TEXT    NOT NULL DEFAULT '{}',
    backgrounded    INTEGER NOT NULL DEFAULT 0
);
-- The newest overview of an integration.
CREATE INDEX overviews_by_integration ON overviews (integration_id, id);

CREATE TABLE overview_changes (
    overview_id  INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    remote_id    TEXT,
    detail       TEXT    NOT NULL,
    PRIMARY KEY (overview_id, seq)
) WITHOUT ROWID;
CREATE INDEX overview_changes_by_action ON overview_changes (overview_id, action, seq);

CREATE TABLE sync_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    integration_id  INTEGER NOT NULL,
    overview_id     INTEGER,
    started_by      INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    status          TEXT    NOT NULL,
    error           TEXT,
    created         INTEGER NOT NULL DEFAULT 0,
    updated         INTEGER NOT NULL DEFAULT 0,
    deactivated     INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    backgrounded    INTEGER NOT NULL DEFAULT 0
);
-- One run per integration at a time.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (integration_id) WHERE status = 'running';
CREATE INDEX sync_runs_by_integration ON sync_runs (tenant_id, integration_id, id);

-- Sync Logs never expire: entries are only ever added.
CREATE TABLE sync_run_log (
    run_id       INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    external_id  TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    attributes   TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    errors       TEXT    NOT NULL DEFAULT '[]',
    at           INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX sync_run_log_by_outcome ON sync_run_log (run_id, outcome, seq);
