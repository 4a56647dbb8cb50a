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
-- Whatever stores a state's due time in its row removes the record's entry
-- for it: a record write that moves a due time earlier or starts a quiet
-- period (slots.rs), and a retry (sync_states.rs). Left in place are
-- entries that a claim overtook, and those are no later than the claim: a
-- state leaves sync_pending only when claimed at or after its due time, so
-- a quiet period that starts later is due no earlier than such an entry.
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
