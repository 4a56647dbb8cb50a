-- The version of a tenant's integrations: every create, update and delete
-- of an integration moves it on in the same statement or transaction
-- (integrations.rs). A process keeps the integrations in memory between
-- record writes, and a write planned with an older version stores nothing
-- (records.rs), so a change made through another process applies to the
-- very next write everywhere.
ALTER TABLE tenants ADD COLUMN integrations_version BIGINT NOT NULL DEFAULT 0;
