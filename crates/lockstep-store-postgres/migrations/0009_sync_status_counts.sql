-- The number of sync states in each status, kept as statuses change, so
-- that a metrics scrape no longer counts every state (50–80 ms at 300,000
-- states, on every scrape).
--
-- Kept without a hot row. A single counts row updated by every write would
-- make concurrent writers queue on its lock, each for the rest of the
-- other's transaction. Instead each statement that changes statuses
-- appends one row of per-status deltas to `sync_status_deltas`, and
-- appends never wait for each other. The counts are the sums of its rows;
-- the store folds the rows into one now and then (status_counts.rs), in
-- one statement, so a reader sees the rows before the fold or after it,
-- never half of it.
--
-- Statement-level triggers append the deltas, from the statement's
-- transition tables (every row it inserted, updated or deleted, whichever
-- query wrote it: a record write, a claim, a finish, a retry, an
-- integration delete). A trigger runs in its statement's transaction, so
-- a write that rolls back takes its deltas with it. One row per
-- statement, not per state: a batch of 5,000 new states appends one row,
-- and a statement that changes no status (a debounce) appends none.
CREATE TABLE sync_status_deltas (
    pending  BIGINT NOT NULL,
    syncing  BIGINT NOT NULL,
    synced   BIGINT NOT NULL,
    failed   BIGINT NOT NULL
);

CREATE FUNCTION lockstep_count_inserted_states() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_status_deltas (pending, syncing, synced, failed)
    SELECT count(*) FILTER (WHERE status = 'sync_pending'),
           count(*) FILTER (WHERE status = 'syncing'),
           count(*) FILTER (WHERE status = 'synced'),
           count(*) FILTER (WHERE status = 'sync_failed')
    FROM inserted_states
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION lockstep_count_deleted_states() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_status_deltas (pending, syncing, synced, failed)
    SELECT -count(*) FILTER (WHERE status = 'sync_pending'),
           -count(*) FILTER (WHERE status = 'syncing'),
           -count(*) FILTER (WHERE status = 'synced'),
           -count(*) FILTER (WHERE status = 'sync_failed')
    FROM deleted_states
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

-- An update keeps the number of states; only statuses move. The old and
-- the new images are counted apart (no join by key) and only a difference
-- is appended.
CREATE FUNCTION lockstep_count_updated_states() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_status_deltas (pending, syncing, synced, failed)
    SELECT n.pending - o.pending, n.syncing - o.syncing, n.synced - o.synced, n.failed - o.failed
    FROM (SELECT count(*) FILTER (WHERE status = 'sync_pending') AS pending,
                 count(*) FILTER (WHERE status = 'syncing') AS syncing,
                 count(*) FILTER (WHERE status = 'synced') AS synced,
                 count(*) FILTER (WHERE status = 'sync_failed') AS failed
          FROM old_states) AS o,
         (SELECT count(*) FILTER (WHERE status = 'sync_pending') AS pending,
                 count(*) FILTER (WHERE status = 'syncing') AS syncing,
                 count(*) FILTER (WHERE status = 'synced') AS synced,
                 count(*) FILTER (WHERE status = 'sync_failed') AS failed
          FROM new_states) AS n
    WHERE (n.pending, n.syncing, n.synced, n.failed) <> (o.pending, o.syncing, o.synced, o.failed);
    RETURN NULL;
END
$$;

-- No writer may change a state between the first count and the triggers.
LOCK TABLE sync_states IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER sync_states_counted_on_insert AFTER INSERT ON sync_states
    REFERENCING NEW TABLE AS inserted_states
    FOR EACH STATEMENT EXECUTE FUNCTION lockstep_count_inserted_states();
CREATE TRIGGER sync_states_counted_on_delete AFTER DELETE ON sync_states
    REFERENCING OLD TABLE AS deleted_states
    FOR EACH STATEMENT EXECUTE FUNCTION lockstep_count_deleted_states();
CREATE TRIGGER sync_states_counted_on_update AFTER UPDATE ON sync_states
    REFERENCING OLD TABLE AS old_states NEW TABLE AS new_states
    FOR EACH STATEMENT EXECUTE FUNCTION lockstep_count_updated_states();

INSERT INTO sync_status_deltas (pending, syncing, synced, failed)
SELECT count(*) FILTER (WHERE status = 'sync_pending'),
       count(*) FILTER (WHERE status = 'syncing'),
       count(*) FILTER (WHERE status = 'synced'),
       count(*) FILTER (WHERE status = 'sync_failed')
FROM sync_states
HAVING count(*) > 0;
