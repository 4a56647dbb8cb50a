-- Per-record reads of sync states must go through the primary key.
--
-- With an index on (tenant_id, integration_id), a read of one record's
-- states (`tenant_id = $1 AND record_id = ANY($2)`) was planned, while the
-- table's statistics lagged behind a bulk load, as a scan of every state of
-- the tenant: 4–15 ms per single-record write instead of 0.1 ms. Integration
-- ids are unique across tenants, so deleting an integration's states needs
-- only the integration id, and nothing else queries states by tenant alone.
DROP INDEX sync_states_integration;
CREATE INDEX sync_states_by_integration ON sync_states (integration_id);

-- Leave room in each page so updates of a record or a sync state can stay on
-- their page (HOT updates), which skips the unique index on unchanged keys.
ALTER TABLE records SET (fillfactor = 80);
ALTER TABLE sync_states SET (fillfactor = 80);
