//! The statement that ends a record write: the changed records, the new
//! sync states, the changed ones, and the work signal, in one round trip.
//!
//! Each part is a data-modifying CTE over `UNNEST`ed arrays, so the
//! statement is the same whatever the batch size, and a part with empty
//! arrays writes nothing. The parts touch disjoint rows (records; states
//! that did not exist; states that did), which is what PostgreSQL needs of
//! CTEs that modify in one statement, as none sees the others' effects.
//!
//! For a single write this is three round trips fewer than one statement
//! per part; with the locks before it and the commit after, a write to an
//! existing record is five.

use lockstep_store::{Record, StoreResult, SyncState, Timestamp};
use serde_json::Value;
use sqlx::PgConnection;

use crate::sync_states::{errors_json, STATE_COLUMNS};
use crate::{db_error, signal};

/// What a write changed, as it is to be stored.
pub(crate) struct Changes<'a> {
    /// Records whose fields, version or deletion changed (the caller holds
    /// their row locks).
    pub records: Vec<&'a Record>,
    /// States the record did not have.
    pub new_states: Vec<&'a SyncState>,
    /// Existing states (locked by the caller) that a planned sync changed.
    pub changed_states: Vec<&'a SyncState>,
    /// Whether a sync became pending, so workers in every process should look.
    pub signal_work: bool,
}

impl Changes<'_> {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.new_states.is_empty() && self.changed_states.is_empty() && !self.signal_work
    }
}

/// Stores `changes` in one statement on the caller's transaction.
pub(crate) async fn store(conn: &mut PgConnection, changes: &Changes<'_>) -> StoreResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let records = &changes.records;
    let new = &changes.new_states;
    let changed = &changes.changed_states;
    // A new state wakes the scheduler when it is due. A changed state keeps
    // its wake-up time when it is queued already and due no earlier, so a
    // debounce changes no indexed column and PostgreSQL can update the row
    // in place (migration 0003); a state that joins the queue wakes at its
    // due time.
    let statement = format!(
        "WITH stored_records AS (
             UPDATE records AS r
             SET fields = u.fields, version = u.version, updated_at = u.updated_at, deleted_at = u.deleted_at
             FROM UNNEST($1::bigint[], $2::jsonb[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])
                 AS u (id, fields, version, updated_at, deleted_at)
             WHERE r.id = u.id
         ), new_states AS (
             INSERT INTO sync_states ({STATE_COLUMNS}, wake_at)
             SELECT u.*, u.due_at FROM UNNEST($6::bigint[], $7::bigint[], $8::bigint[], $9::text[],
                 $10::timestamptz[], $11::timestamptz[], $12::bigint[], $13::int[], $14::bool[],
                 $15::timestamptz[], $16::jsonb[], $17::text[], $18::timestamptz[]) AS u ({STATE_COLUMNS})
         ), changed_states AS (
             UPDATE sync_states AS s
             SET status = u.status, due_at = u.due_at,
                 wake_at = CASE WHEN s.status IN ('sync_pending', 'syncing') AND s.wake_at <= u.due_at
                     THEN s.wake_at ELSE u.due_at END,
                 pending_since = u.pending_since, attempts = u.attempts,
                 changed_during_sync = u.changed_during_sync, updated_at = u.updated_at
             FROM UNNEST($19::bigint[], $20::bigint[], $21::text[], $22::timestamptz[], $23::timestamptz[],
                 $24::int[], $25::bool[], $26::timestamptz[])
                 AS u (record_id, integration_id, status, due_at, pending_since, attempts,
                       changed_during_sync, updated_at)
             WHERE s.record_id = u.record_id AND s.integration_id = u.integration_id
         )
         -- Delivered to every listening process when the transaction commits.
         SELECT pg_notify('{channel}', '') WHERE $27",
        channel = signal::CHANNEL,
    );
    sqlx::query(&statement)
        // Records: the columns a write changes.
        .bind(records.iter().map(|r| r.id).collect::<Vec<i64>>())
        .bind(records.iter().map(|r| &r.fields).collect::<Vec<&Value>>())
        .bind(records.iter().map(|r| r.version).collect::<Vec<i64>>())
        .bind(records.iter().map(|r| r.updated_at).collect::<Vec<Timestamp>>())
        .bind(records.iter().map(|r| r.deleted_at).collect::<Vec<Option<Timestamp>>>())
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
        .bind(new.iter().map(|s| errors_json(&s.errors)).collect::<StoreResult<Vec<Value>>>()?)
        .bind(new.iter().map(|s| s.remote_id.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(new.iter().map(|s| s.updated_at).collect::<Vec<Timestamp>>())
        // Changed states: what `lockstep_store::apply_planned_sync` changes.
        .bind(changed.iter().map(|s| s.record_id).collect::<Vec<i64>>())
        .bind(changed.iter().map(|s| s.integration_id).collect::<Vec<i64>>())
        .bind(changed.iter().map(|s| s.status.as_str()).collect::<Vec<&str>>())
        .bind(changed.iter().map(|s| s.due_at).collect::<Vec<Option<Timestamp>>>())
        .bind(changed.iter().map(|s| s.pending_since).collect::<Vec<Option<Timestamp>>>())
        .bind(changed.iter().map(|s| s.attempts).collect::<Vec<i32>>())
        .bind(changed.iter().map(|s| s.changed_during_sync).collect::<Vec<bool>>())
        .bind(changed.iter().map(|s| s.updated_at).collect::<Vec<Timestamp>>())
        .bind(changes.signal_work)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}
