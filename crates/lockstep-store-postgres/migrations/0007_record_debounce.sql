-- A debounce that writes only the record row.
--
-- Every relevant change of a pending record moves its sync's due time. A
-- batch used to store that by updating each sync state, one row per
-- integration beside the record's own, and those updates were two thirds of
-- a batch's writing statement. Now a batch that holds its rows locked
-- (records.rs) writes the new due time into the record row it writes anyway:
-- `debounce` maps an integration id to a due time, in milliseconds since the
-- epoch. A pending state's due time is the later of its own `due_at` and its
-- record's entry (`lockstep_due_at`).
--
-- An entry is never cleared. It stays correct because every quiet period
-- starts after the one before it ended: a state leaves sync_pending only by
-- a claim at or after its due time, so a later period's `due_at` is never
-- earlier than an entry left by an earlier one.
ALTER TABLE records ADD COLUMN debounce JSONB NOT NULL DEFAULT '{}';

-- The due time of a sync state whose record is `debounce`: what the
-- scheduler claims by and what a sync view shows.
CREATE FUNCTION lockstep_due_at(status TEXT, due_at TIMESTAMPTZ, debounce JSONB, integration_id BIGINT)
RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN status = 'sync_pending'
        THEN GREATEST(due_at, 'epoch'::timestamptz
            + (debounce ->> integration_id::text)::bigint * interval '1 millisecond')
        ELSE due_at END
$$;
