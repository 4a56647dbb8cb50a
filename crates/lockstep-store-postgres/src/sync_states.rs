//! The scheduler's durable rows, one per (record, integration): decoding,
//! explicit retries, and the read-only views (per record, next wake-up time,
//! counts per status). A record write stores its states in `write_changes`.
//!
//! Claiming and finishing, the two halves of a sync, are in `claims`.

use lockstep_store::{StoreError, StoreResult, SyncError, SyncState, SyncStatus};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::corrupt;

pub(crate) const STATE_COLUMNS: &str = "record_id, integration_id, tenant_id, status, due_at, \
     pending_since, claim, attempts, changed_during_sync, last_synced_at, errors, remote_id, updated_at";

/// [`STATE_COLUMNS`] of the table named `alias` in a join.
pub(crate) fn state_columns_of(alias: &str) -> String {
    STATE_COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

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
