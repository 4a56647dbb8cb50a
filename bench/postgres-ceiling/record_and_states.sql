-- The least PostgreSQL can do for 1,000 relevant record changes in
-- Lockstep's schema: a new version of each record (a mapped field changes)
-- and its three sync states' due times moved on (the debounce), in one
-- transaction. No reads, no checks, values made on the server: a ceiling.
\set first random(0, 99) * 1000 + 1
BEGIN;
UPDATE records AS r
SET fields = r.fields || jsonb_build_object('email', md5(random()::text) || '@bench.example'),
    version = r.version + 1, updated_at = now()
FROM UNNEST(ARRAY(SELECT generate_series(:first, :first + 999))) AS k (id)
WHERE r.id = k.id;
UPDATE sync_states AS s
SET due_at = now() + interval '5 minutes', updated_at = now()
FROM UNNEST(ARRAY(SELECT generate_series(:first, :first + 999))) AS k (id)
WHERE s.record_id = k.id;
COMMIT;
