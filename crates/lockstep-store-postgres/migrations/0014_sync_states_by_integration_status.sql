-- The console's list of integrations shows how many states of each are in
-- each status, counted when asked (sync_queue.rs). With the status beside
-- the integration in the index, the count reads index entries instead of
-- every state's row (the table keeps half of each page free: migration
-- 0006). It replaces the index on the integration alone, which it serves
-- as well (deleting an integration's states). It costs updates nothing
-- new: a status change was never a HOT update (the status is in the
-- predicate of sync_states_wake), so it wrote an entry into every index
-- already, and a debounce, which changes neither column, stays HOT.
--
-- Building the index holds off writes to sync_states while it runs, a few
-- seconds per million states, once, as the upgraded process starts.
CREATE INDEX sync_states_by_integration_status ON sync_states (integration_id, status);
DROP INDEX sync_states_by_integration;
