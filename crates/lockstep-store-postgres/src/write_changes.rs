//! The statement that ends a record write: the changed records, the new
//! sync states, the changed ones, and the work signal, in one round trip,
//! checked against what the write read.
//!
//! Each part is a data-modifying CTE over `UNNEST`ed arrays, so the
//! statement is the same whatever the batch size, and a part with empty
//! arrays writes nothing. The parts touch disjoint rows (new records; records
//! that existed; states that did not exist; states that did), which is what
//! PostgreSQL needs of CTEs that modify in one statement, as none sees the
//! others' effects.
//!
//! **Lock order.** The existing states are locked in key order
//! (`locked_states`, `ORDER BY … FOR UPDATE`) before any is updated, as
//! every other statement that takes several states waits for them (a
//! finish, claims.rs; a Sync Now claim, run_claims.rs): an `UPDATE … FROM
//! UNNEST` alone takes its rows in whatever order the join meets them, and
//! two such updates of overlapping states can each hold a row the other
//! waits for. On the locking path the caller holds them already.
//!
//! **The check.** Every update names what it expects to find: a record its
//! version as read, a state its status, claim and due time as read; records
//! the write read but left alone are locked `FOR SHARE` at their read
//! version. Under READ COMMITTED an update that meets a row changed since the
//! statement began waits for that change to commit and tests the row again,
//! so a row that moved on is simply not updated. The statement counts what
//! each part matched and, when any count falls short, raises `LSW01`
//! (`lockstep_write_conflict()`, migration 0004), which undoes the whole
//! statement. An insert that meets a key someone else created fails on the
//! unique index the same way. On the locking path these checks always hold
//! (the caller holds the rows); on the read-then-write path they are what
//! makes it safe (records.rs).

use lockstep_store::{Record, StoreResult, SyncState, Timestamp};
use serde_json::Value;
use sqlx::PgConnection;

use crate::debounce::{self, Debounce};
use crate::signal;
use crate::slots::ReadState;
use crate::sync_states::{errors_json, STATE_COLUMNS};

/// The SQLSTATE `lockstep_write_conflict()` raises.
pub(crate) const WRITE_CONFLICT: &str = "LSW01";

/// What a write changed, as it is to be stored, with what it read.
#[derive(Default)]
pub(crate) struct Changes<'a> {
    /// Records whose key had no row: inserted with their id.
    pub inserted_records: Vec<&'a Record>,
    /// Records whose fields, version or deletion changed, each with the
    /// version it was read at and, if the write moved it, its debounce column.
    pub updated_records: Vec<(&'a Record, i64, Option<&'a Debounce>)>,
    /// Records read and left alone, (id, version as read): checked, not written.
    pub unchanged_records: Vec<(i64, i64)>,
    /// States the record did not have.
    pub new_states: Vec<&'a SyncState>,
    /// Existing states that a planned sync changed, with how they were read.
    pub changed_states: Vec<(&'a SyncState, ReadState)>,
    /// Whether a sync became due sooner than before, so workers in every
    /// process should look (slots.rs).
    pub signal_work: bool,
}

impl Changes<'_> {
    /// Nothing to write: a batch of no-ops needs no statement, and its
    /// unchanged records need no check.
    fn writes_nothing(&self) -> bool {
        self.inserted_records.is_empty()
            && self.updated_records.is_empty()
            && self.new_states.is_empty()
            && self.changed_states.is_empty()
            && !self.signal_work
    }
}

/// Whether `error` is the store's own check failing (or an insert finding the
/// key taken, or a deadlock between two such writes): the write read rows
/// that have since changed, and nothing of it was stored.
pub(crate) fn is_stale_read(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some(WRITE_CONFLICT | "23505" | "40P01")))
}

/// Stores `changes` in one statement on `conn`: inside the caller's
/// transaction, or on its own (it is then its own transaction). Errors are
/// the driver's, so the caller can tell a stale read ([`is_stale_read`]).
pub(crate) async fn store(conn: &mut PgConnection, changes: &Changes<'_>) -> Result<(), sqlx::Error> {
    if changes.writes_nothing() {
        return Ok(());
    }
    let inserted = &changes.inserted_records;
    let updated = &changes.updated_records;
    let unchanged = &changes.unchanged_records;
    let new = &changes.new_states;
    let changed = &changes.changed_states;
    // A new state wakes the scheduler when it is due. A changed state keeps
    // its wake-up time when it is queued already and due no earlier, so a
    // debounce changes no indexed column and PostgreSQL can update the row
    // in place (migration 0003); a state that joins the queue wakes at its
    // due time.
    let statement = format!(
        "WITH inserted_records AS (
             INSERT INTO records (id, tenant_id, record_type, external_id, fields, version,
                                  created_at, updated_at, deleted_at)
             OVERRIDING SYSTEM VALUE
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[],
                 $6::bigint[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
         ), updated_records AS (
             UPDATE records AS r
             SET fields = u.fields, version = u.version, updated_at = u.updated_at, deleted_at = u.deleted_at,
                 debounce = COALESCE(u.debounce, r.debounce)
             FROM UNNEST($10::bigint[], $11::jsonb[], $12::bigint[], $13::timestamptz[], $14::timestamptz[],
                 $15::bigint[], $43::jsonb[]) AS u (id, fields, version, updated_at, deleted_at, read_version, debounce)
             WHERE r.id = u.id AND r.version = u.read_version
             RETURNING r.id
         ), unchanged_records AS MATERIALIZED (
             SELECT r.id FROM records AS r
             JOIN UNNEST($16::bigint[], $17::bigint[]) AS u (id, read_version) ON r.id = u.id
             WHERE r.version = u.read_version
             FOR SHARE OF r
         ), new_states AS (
             INSERT INTO sync_states ({STATE_COLUMNS}, wake_at)
             SELECT u.*, u.due_at FROM UNNEST($18::bigint[], $19::bigint[], $20::bigint[], $21::text[],
                 $22::timestamptz[], $23::timestamptz[], $24::bigint[], $25::int[], $26::bool[],
                 $27::timestamptz[], $28::jsonb[], $29::text[], $30::timestamptz[]) AS u ({STATE_COLUMNS})
         ), locked_states AS MATERIALIZED (
             SELECT l.record_id, l.integration_id FROM sync_states AS l
             JOIN UNNEST($31::bigint[], $32::bigint[]) AS k (record_id, integration_id)
                 ON l.record_id = k.record_id AND l.integration_id = k.integration_id
             ORDER BY l.record_id, l.integration_id
             FOR UPDATE OF l
         ), changed_states AS (
             UPDATE sync_states AS s
             SET status = u.status, due_at = u.due_at,
                 wake_at = CASE WHEN s.status IN ('sync_pending', 'syncing') AND s.wake_at <= u.due_at
                     THEN s.wake_at ELSE u.due_at END,
                 pending_since = u.pending_since, attempts = u.attempts,
                 changed_during_sync = u.changed_during_sync, updated_at = u.updated_at
             FROM UNNEST($31::bigint[], $32::bigint[], $33::text[], $34::timestamptz[], $35::timestamptz[],
                 $36::int[], $37::bool[], $38::timestamptz[], $39::text[], $40::bigint[], $41::timestamptz[])
                 AS u (record_id, integration_id, status, due_at, pending_since, attempts,
                       changed_during_sync, updated_at, read_status, read_claim, read_due_at)
             JOIN locked_states AS l ON l.record_id = u.record_id AND l.integration_id = u.integration_id
             WHERE s.record_id = u.record_id AND s.integration_id = u.integration_id
               AND s.status = u.read_status AND s.claim = u.read_claim
               AND s.due_at IS NOT DISTINCT FROM u.read_due_at
             RETURNING s.record_id
         ), checked AS (
             SELECT (SELECT count(*) FROM updated_records) = cardinality($10::bigint[])
                AND (SELECT count(*) FROM unchanged_records) = cardinality($16::bigint[])
                AND (SELECT count(*) FROM changed_states) = cardinality($31::bigint[]) AS current
         )
         SELECT CASE WHEN NOT current THEN lockstep_write_conflict() END,
                -- Delivered to every listening process when the transaction commits.
                CASE WHEN current AND $42 THEN pg_notify('{channel}', '') END
         FROM checked",
        channel = signal::CHANNEL,
    );
    sqlx::query(&statement)
        // Inserted records: every column.
        .bind(inserted.iter().map(|r| r.id).collect::<Vec<i64>>())
        .bind(inserted.iter().map(|r| r.tenant_id).collect::<Vec<i64>>())
        .bind(inserted.iter().map(|r| r.record_type.as_str()).collect::<Vec<&str>>())
        .bind(inserted.iter().map(|r| r.external_id.as_str()).collect::<Vec<&str>>())
        .bind(inserted.iter().map(|r| &r.fields).collect::<Vec<&Value>>())
        .bind(inserted.iter().map(|r| r.version).collect::<Vec<i64>>())
        .bind(inserted.iter().map(|r| r.created_at).collect::<Vec<Timestamp>>())
        .bind(inserted.iter().map(|r| r.updated_at).collect::<Vec<Timestamp>>())
        .bind(inserted.iter().map(|r| r.deleted_at).collect::<Vec<Option<Timestamp>>>())
        // Updated records: the columns a write changes, and the version read.
        .bind(updated.iter().map(|(r, _, _)| r.id).collect::<Vec<i64>>())
        .bind(updated.iter().map(|(r, _, _)| &r.fields).collect::<Vec<&Value>>())
        .bind(updated.iter().map(|(r, _, _)| r.version).collect::<Vec<i64>>())
        .bind(updated.iter().map(|(r, _, _)| r.updated_at).collect::<Vec<Timestamp>>())
        .bind(updated.iter().map(|(r, _, _)| r.deleted_at).collect::<Vec<Option<Timestamp>>>())
        .bind(updated.iter().map(|(_, read, _)| *read).collect::<Vec<i64>>())
        // Unchanged records: id and version read.
        .bind(unchanged.iter().map(|(id, _)| *id).collect::<Vec<i64>>())
        .bind(unchanged.iter().map(|(_, read)| *read).collect::<Vec<i64>>())
        // New states: every column.
        .bind(new.iter().map(|s| s.record_id).collect::<Vec<i64>>())
        .bind(new.iter().map(|s| s.integration_id).collect::<Vec<i64>>())
        .bind(new.iter().map(|s| s.tenant_id).collect::<Vec<i64>>())
        .bind(new.iter().map(|s| s.status.as_str()).collect::<Vec<&str>>())
        .bind(new.iter().map(|s| s.due_at).collect::<Vec<Option<Timestamp>>>())
        .bind(new.iter().map(|s| s.pending_since).collect::<Vec<Option<Timestamp>>>())
        .bind(new.iter().map(|s| s.claim).collect::<Vec<i64>>())
        .bind(new.iter().map(|s| s.attempts).collect::<Vec<i32>>())
        .bind(new.iter().map(|s| s.changed_during_sync).collect::<Vec<bool>>())
        .bind(new.iter().map(|s| s.last_synced_at).collect::<Vec<Option<Timestamp>>>())
        .bind(new.iter().map(|s| errors_json(&s.errors)).collect::<StoreResult<Vec<Value>>>().map_err(encode)?)
        .bind(new.iter().map(|s| s.remote_id.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(new.iter().map(|s| s.updated_at).collect::<Vec<Timestamp>>())
        // Changed states: what `lockstep_store::apply_planned_sync` changes,
        // and how each was read.
        .bind(changed.iter().map(|(s, _)| s.record_id).collect::<Vec<i64>>())
        .bind(changed.iter().map(|(s, _)| s.integration_id).collect::<Vec<i64>>())
        .bind(changed.iter().map(|(s, _)| s.status.as_str()).collect::<Vec<&str>>())
        .bind(changed.iter().map(|(s, _)| s.due_at).collect::<Vec<Option<Timestamp>>>())
        .bind(changed.iter().map(|(s, _)| s.pending_since).collect::<Vec<Option<Timestamp>>>())
        .bind(changed.iter().map(|(s, _)| s.attempts).collect::<Vec<i32>>())
        .bind(changed.iter().map(|(s, _)| s.changed_during_sync).collect::<Vec<bool>>())
        .bind(changed.iter().map(|(s, _)| s.updated_at).collect::<Vec<Timestamp>>())
        .bind(changed.iter().map(|(_, read)| read.status.as_str()).collect::<Vec<&str>>())
        .bind(changed.iter().map(|(_, read)| read.claim).collect::<Vec<i64>>())
        .bind(changed.iter().map(|(_, read)| read.due_at).collect::<Vec<Option<Timestamp>>>())
        .bind(changes.signal_work)
        // Updated records' debounce columns.
        .bind(updated.iter().map(|(_, _, d)| d.map(debounce::to_json)).collect::<Vec<Option<Value>>>())
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps the updates of [`store`] probing by key for the rest of the
/// caller's transaction. Its `UPDATE … FROM UNNEST(…)` joins are planned
/// afresh for their first executions on a connection, and on a table not
/// yet analysed PostgreSQL guesses that each key matches many rows: two
/// thousand state updates were planned as a hash join over a sequential
/// scan of every state, 128 ms instead of about 10 (tests/plans.rs). Every
/// join in the statement is a batch of keys against a unique index, where a
/// nested loop of probes is always right; `SET LOCAL` ends with the
/// transaction, so no other statement is affected.
pub(crate) async fn plan_joins_as_probes(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    // `set_config(…, true)` is `SET LOCAL`, in one prepared statement.
    sqlx::query("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
        .execute(tx)
        .await?;
    Ok(())
}

/// A state whose errors do not serialise cannot be stored.
fn encode(error: lockstep_store::StoreError) -> sqlx::Error {
    sqlx::Error::Encode(error.to_string().into())
}
