//! The scheduler's durable rows, one per (record, integration): decoding,
//! the batched insert and update `write_records` ends with, explicit retries, and the
//! read-only views (per record, next due time, counts per status).
//!
//! Claiming and finishing, the two halves of a sync, are in `claims`.

use lockstep_store::{StoreError, StoreResult, SyncError, SyncState, SyncStatus, Timestamp};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{corrupt, db_error, ms, signal, PgStore};

pub(crate) const STATE_COLUMNS: &str = "record_id, integration_id, tenant_id, status, due_at, \
     pending_since, claim, attempts, changed_during_sync, last_synced_at, errors, remote_id, updated_at";

pub(crate) fn state_from_row(row: &PgRow) -> StoreResult<SyncState> {
    let status: String = row.try_get("status").map_err(corrupt)?;
    let errors: Value = row.try_get("errors").map_err(corrupt)?;
    Ok(SyncState {
        record_id: row.try_get("record_id").map_err(corrupt)?,
        integration_id: row.try_get("integration_id").map_err(corrupt)?,
        tenant_id: row.try_get("tenant_id").map_err(corrupt)?,
        status: SyncStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sync status {status:?}")))?,
        due_at: row.try_get("due_at").map_err(corrupt)?,
        pending_since: row.try_get("pending_since").map_err(corrupt)?,
        claim: row.try_get("claim").map_err(corrupt)?,
        attempts: row.try_get("attempts").map_err(corrupt)?,
        changed_during_sync: row.try_get("changed_during_sync").map_err(corrupt)?,
        last_synced_at: row.try_get("last_synced_at").map_err(corrupt)?,
        errors: serde_json::from_value::<Vec<SyncError>>(errors).map_err(corrupt)?,
        remote_id: row.try_get("remote_id").map_err(corrupt)?,
        updated_at: row.try_get("updated_at").map_err(corrupt)?,
    })
}

/// Errors as stored: a JSONB array of `{field, code, message}`.
pub(crate) fn errors_json(errors: &[SyncError]) -> StoreResult<Value> {
    serde_json::to_value(errors).map_err(corrupt)
}

/// Inserts new states (their record is locked by the caller, so none of
/// them exists yet) in one statement.
pub(crate) async fn insert(conn: &mut PgConnection, states: &[&SyncState]) -> StoreResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let record_ids: Vec<i64> = states.iter().map(|s| s.record_id).collect();
    let integration_ids: Vec<i64> = states.iter().map(|s| s.integration_id).collect();
    let tenant_ids: Vec<i64> = states.iter().map(|s| s.tenant_id).collect();
    let statuses: Vec<&str> = states.iter().map(|s| s.status.as_str()).collect();
    let due_at: Vec<Option<Timestamp>> = states.iter().map(|s| s.due_at).collect();
    let pending_since: Vec<Option<Timestamp>> = states.iter().map(|s| s.pending_since).collect();
    let claims: Vec<i64> = states.iter().map(|s| s.claim).collect();
    let attempts: Vec<i32> = states.iter().map(|s| s.attempts).collect();
    let changed: Vec<bool> = states.iter().map(|s| s.changed_during_sync).collect();
    let last_synced_at: Vec<Option<Timestamp>> = states.iter().map(|s| s.last_synced_at).collect();
    let errors: Vec<Value> = states.iter().map(|s| errors_json(&s.errors)).collect::<StoreResult<_>>()?;
    let remote_ids: Vec<Option<&str>> = states.iter().map(|s| s.remote_id.as_deref()).collect();
    let updated_at: Vec<Timestamp> = states.iter().map(|s| s.updated_at).collect();
    // A new state wakes the scheduler when it is due (migration 0003).
    sqlx::query(&format!(
        "INSERT INTO sync_states ({STATE_COLUMNS}, wake_at)
         SELECT u.*, u.due_at FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
             $5::timestamptz[], $6::timestamptz[], $7::bigint[], $8::int[], $9::bool[],
             $10::timestamptz[], $11::jsonb[], $12::text[], $13::timestamptz[]) AS u ({STATE_COLUMNS})"
    ))
    .bind(&record_ids)
    .bind(&integration_ids)
    .bind(&tenant_ids)
    .bind(&statuses)
    .bind(&due_at)
    .bind(&pending_since)
    .bind(&claims)
    .bind(&attempts)
    .bind(&changed)
    .bind(&last_synced_at)
    .bind(&errors)
    .bind(&remote_ids)
    .bind(&updated_at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Writes what a planned sync changes (`lockstep_store::apply_planned_sync`:
/// status, due time, quiet-period start, attempts, the changed-during-sync
/// flag) to existing states the caller holds locked, in one statement.
/// Fewer columns than a whole-row upsert, and no insert attempt per row.
///
/// The wake-up time moves only earlier (migration 0003): a debounce of a
/// state already queued keeps it, so the row changes no indexed column and
/// PostgreSQL can update it in place. A state that joins the queue wakes at
/// its due time.
pub(crate) async fn update_planned(conn: &mut PgConnection, states: &[&SyncState]) -> StoreResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let record_ids: Vec<i64> = states.iter().map(|s| s.record_id).collect();
    let integration_ids: Vec<i64> = states.iter().map(|s| s.integration_id).collect();
    let statuses: Vec<&str> = states.iter().map(|s| s.status.as_str()).collect();
    let due_at: Vec<Option<Timestamp>> = states.iter().map(|s| s.due_at).collect();
    let pending_since: Vec<Option<Timestamp>> = states.iter().map(|s| s.pending_since).collect();
    let attempts: Vec<i32> = states.iter().map(|s| s.attempts).collect();
    let changed: Vec<bool> = states.iter().map(|s| s.changed_during_sync).collect();
    let updated_at: Vec<Timestamp> = states.iter().map(|s| s.updated_at).collect();
    sqlx::query(
        "UPDATE sync_states AS s
         SET status = u.status, due_at = u.due_at,
             wake_at = CASE WHEN s.status IN ('sync_pending', 'syncing') AND s.wake_at <= u.due_at
                 THEN s.wake_at ELSE u.due_at END,
             pending_since = u.pending_since, attempts = u.attempts,
             changed_during_sync = u.changed_during_sync, updated_at = u.updated_at
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[],
             $6::int[], $7::bool[], $8::timestamptz[])
             AS u (record_id, integration_id, status, due_at, pending_since, attempts, changed_during_sync, updated_at)
         WHERE s.record_id = u.record_id AND s.integration_id = u.integration_id",
    )
    .bind(&record_ids)
    .bind(&integration_ids)
    .bind(&statuses)
    .bind(&due_at)
    .bind(&pending_since)
    .bind(&attempts)
    .bind(&changed)
    .bind(&updated_at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

impl PgStore {
    pub(crate) async fn select_sync_states(&self, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>> {
        let rows = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM sync_states
             WHERE tenant_id = $1 AND record_id = ANY($2)
             ORDER BY record_id, integration_id"
        ))
        .bind(tenant_id)
        .bind(record_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(state_from_row).collect()
    }

    /// `retry_failed`. The trait passes no "now", so the new quiet period
    /// starts (`pending_since`) at the retry's due time.
    pub(crate) async fn repend_failed(
        &self,
        tenant_id: i64,
        record_id: i64,
        integration_id: Option<i64>,
        due_at: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let moved = sqlx::query(
            "UPDATE sync_states
             SET status = 'sync_pending', due_at = $4, wake_at = $4, pending_since = $4, attempts = 0,
                 changed_during_sync = FALSE, updated_at = $4
             WHERE tenant_id = $1 AND record_id = $2 AND status = 'sync_failed'
               AND ($3::bigint IS NULL OR integration_id = $3)",
        )
        .bind(tenant_id)
        .bind(record_id)
        .bind(integration_id)
        .bind(ms(due_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if moved > 0 {
            signal::notify_on_commit(&mut tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if moved > 0 {
            self.signal.notify_waiters();
        }
        Ok(moved)
    }

    /// The earliest wake-up time: no later than the earliest due time (a
    /// debounced state may wake early; the claim then moves its wake-up time
    /// to its due time).
    pub(crate) async fn earliest_wake_at(&self) -> StoreResult<Option<Timestamp>> {
        // Served by the partial index sync_states_wake (same predicate).
        sqlx::query_scalar("SELECT min(wake_at) FROM sync_states WHERE status IN ('sync_pending', 'syncing')")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    pub(crate) async fn count_by_status(&self) -> StoreResult<Vec<(SyncStatus, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, count(*) FROM sync_states GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut counts = rows
            .into_iter()
            .map(|(status, count)| {
                SyncStatus::parse(&status)
                    .map(|status| (status, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown sync status {status:?}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        counts.sort();
        Ok(counts)
    }
}
