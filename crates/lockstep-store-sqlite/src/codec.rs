//! Converting between SQLite values and the store's row types: times as
//! integer milliseconds, JSON as text, statuses as their wire spelling.

use chrono::DateTime;
use lockstep_store::{Record, StoreError, SyncError, SyncState, SyncStatus, Timestamp};
use rusqlite::Row;

pub fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub fn time(ms: i64) -> rusqlite::Result<Timestamp> {
    DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, ms))
}

pub fn opt_time(ms: Option<i64>) -> rusqlite::Result<Option<Timestamp>> {
    ms.map(time).transpose()
}

pub fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt(format!("{what}: {e}"))),
    )
}

pub fn json(text: &str) -> rusqlite::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| corrupt("JSON column", e))
}

/// The columns [`record`] reads, in order.
pub const RECORD_COLUMNS: &str =
    "id, tenant_id, record_type, external_id, fields, version, created_at, updated_at, deleted_at";

pub fn record(row: &Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        record_type: row.get(2)?,
        external_id: row.get(3)?,
        fields: json(&row.get::<_, String>(4)?)?,
        version: row.get(5)?,
        created_at: time(row.get(6)?)?,
        updated_at: time(row.get(7)?)?,
        deleted_at: opt_time(row.get(8)?)?,
    })
}

/// The columns [`sync_state`] reads, in order.
pub const STATE_COLUMNS: &str = "record_id, integration_id, tenant_id, status, due_at, pending_since, claim, attempts, changed_during_sync, last_synced_at, errors, remote_id, updated_at";

pub fn sync_state(row: &Row<'_>) -> rusqlite::Result<SyncState> {
    let status: String = row.get(3)?;
    let errors: String = row.get(10)?;
    Ok(SyncState {
        record_id: row.get(0)?,
        integration_id: row.get(1)?,
        tenant_id: row.get(2)?,
        status: SyncStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        due_at: opt_time(row.get(4)?)?,
        pending_since: opt_time(row.get(5)?)?,
        claim: row.get(6)?,
        attempts: row.get(7)?,
        changed_during_sync: row.get(8)?,
        last_synced_at: opt_time(row.get(9)?)?,
        errors: serde_json::from_str::<Vec<SyncError>>(&errors).map_err(|e| corrupt("errors", e))?,
        remote_id: row.get(11)?,
        updated_at: time(row.get(12)?)?,
    })
}

/// A list of ids as a JSON array, for `IN (SELECT value FROM json_each(?))`:
/// one statement for any number of ids.
pub fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).expect("integers serialise")
}
