-- The ceiling benchmark's data: Lockstep's own schema (the migrations are
-- applied before this file), one tenant, 100,000 employees shaped like
-- batch_write's, each with three pending sync states, as after its create
-- phase. Ids are 1..100000, so a script can pick a block of 1,000 by id.
INSERT INTO tenants (name, created_at) VALUES ('ceiling', now());
INSERT INTO records (tenant_id, record_type, external_id, fields, version, created_at, updated_at)
SELECT 1, 'employee', 'emp-' || lpad(n::text, 7, '0'),
       jsonb_build_object('email', 'person' || n || '.v1@bench.example', 'first_name', 'Bench',
           'last_name', 'Person ' || n, 'department', 'Engineering', 'title', 'Engineer',
           'employee_number', lpad(n::text, 7, '0'), 'cost_center', 'CC-1', 'salary', 1,
           'status', 'active'),
       1, now(), now()
FROM generate_series(1, 100000) AS n;
INSERT INTO sync_states (record_id, integration_id, tenant_id, status, due_at, wake_at, pending_since, updated_at)
SELECT r.id, i, 1, 'sync_pending', now() + interval '5 minutes', now() + interval '5 minutes', now(), now()
FROM records AS r CROSS JOIN generate_series(1, 3) AS i;
VACUUM ANALYZE;
