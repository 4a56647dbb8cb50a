-- The version of a tenant's integrations: every create, update and delete
-- of an integration moves it on in the same transaction (tenants.rs). A
-- write planned with an older version stores nothing (records.rs), so the
-- integrations can be kept in memory between writes.
ALTER TABLE tenants ADD COLUMN integrations_version INTEGER NOT NULL DEFAULT 0;
