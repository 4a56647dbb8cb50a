-- The scheduler's queue is indexed on a wake-up time, not on the due time.
--
-- Every relevant edit of a pending record moves its due time later (the
-- debounce). With due_at indexed, each such edit also moved an index entry.
-- wake_at is the time a worker should look at the state: never later than
-- due_at, moved later only by a claim that finds the state not yet due
-- (sync_states.rs), and moved earlier by a write whose due time is earlier.
-- A debounce therefore writes neither wake_at nor status, and SQLite leaves
-- the index alone.
--
-- Invariant: for every sync_pending or syncing state, wake_at <= due_at.
ALTER TABLE sync_states ADD COLUMN wake_at INTEGER;
UPDATE sync_states SET wake_at = due_at WHERE due_at IS NOT NULL;
CREATE INDEX sync_states_wake ON sync_states (wake_at)
    WHERE status IN ('sync_pending', 'syncing');
DROP INDEX sync_states_due;
