-- The console's list of integrations shows how many states of each are in
-- each status, counted when asked (sync_queue.rs). With the status beside
-- the integration in the index, the count walks index entries only, never
-- the table. It replaces the index on the integration alone, which it
-- serves as well (deleting an integration's states). A claim or a finish,
-- which changes a status, now moves this index's entry too; a debounce,
-- which does not, still leaves every index alone (migration 0002).
CREATE INDEX sync_states_by_integration_status ON sync_states (integration_id, status);
DROP INDEX sync_states_integration;
