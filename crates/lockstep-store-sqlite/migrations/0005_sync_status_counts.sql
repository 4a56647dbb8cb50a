-- The number of sync states in each status, kept as statuses change, so
-- that a metrics scrape reads four rows instead of counting every state.
--
-- Triggers keep it, in the transaction that changes a state: an insert
-- counts the new state, a delete uncounts the old one, and an update that
-- changes a status moves one from the old status to the new. SQLite has
-- one writer at a time, so a single row per status adds no contention.
-- `UPDATE OF status` fires only for statements that set the status: a
-- debounce (which moves only the due time) runs no trigger at all.
CREATE TABLE sync_status_counts (
    status  TEXT    PRIMARY KEY,
    count   INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO sync_status_counts (status, count)
    VALUES ('sync_pending', 0), ('syncing', 0), ('synced', 0), ('sync_failed', 0);
UPDATE sync_status_counts
    SET count = (SELECT count(*) FROM sync_states WHERE sync_states.status = sync_status_counts.status);

CREATE TRIGGER sync_states_counted_on_insert AFTER INSERT ON sync_states
BEGIN
    UPDATE sync_status_counts SET count = count + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER sync_states_counted_on_delete AFTER DELETE ON sync_states
BEGIN
    UPDATE sync_status_counts SET count = count - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER sync_states_counted_on_status AFTER UPDATE OF status ON sync_states
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE sync_status_counts SET count = count - 1 WHERE status = OLD.status;
    UPDATE sync_status_counts SET count = count + 1 WHERE status = NEW.status;
END;
