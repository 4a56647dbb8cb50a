-- The record rows alone: a new version of 1,000 records and nothing else.
-- The floor for any design that stores each record change durably,
-- whatever it does with sync states.
\set first random(0, 99) * 1000 + 1
UPDATE records AS r
SET fields = r.fields || jsonb_build_object('email', md5(random()::text) || '@bench.example'),
    version = r.version + 1, updated_at = now()
FROM UNNEST(ARRAY(SELECT generate_series(:first, :first + 999))) AS k (id)
WHERE r.id = k.id;
