-- The job queue: background work of every kind as durable rows (overview
-- runs, Sync Now runs, notification emails). A job is claimed under a
-- lease (`due_at` is the lease's end while `running`) with `FOR UPDATE
-- SKIP LOCKED`, and finished fenced by `claim`; an expired lease makes it
-- claimable again.
CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL,
    tenant_id     BIGINT,
    subject_id    BIGINT,
    unique_key    TEXT,
    payload       JSONB NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL,
    due_at        TIMESTAMPTZ,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    claim         BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
-- A unique key is held only while its job is unfinished.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued', 'running');
-- Claims: a kind's unfinished jobs by due time.
CREATE INDEX jobs_due ON jobs (kind, due_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_by_subject ON jobs (kind, subject_id);
