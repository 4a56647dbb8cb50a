//! The scheduler's durable rows, one per (record, integration): decoding,
//! explicit retries, and the read-only views (per record, next wake-up time,
//! counts per status). A record write stores its states in `write_changes`.
//!
//! Claiming and finishing, the two halves of a sync, are in `claims`.

use lockstep_store::{StoreError, StoreResult, SyncError, SyncState, SyncStatus, Timestamp};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::debounce;
use crate::{corrupt, db_error, ms, signal, PgStore};

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

impl PgStore {
    /// The states of `record_ids`, each with its due time as the scheduler
    /// sees it (its record's debounce column taken into account).
    pub(crate) async fn select_sync_states(&self, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>> {
        // Each record is two probes, its row by id and its states by the
        // primary key's prefix, whatever PostgreSQL estimates: `OFFSET 0`
        // keeps each LATERAL subquery from being flattened into a join it
        // could plan as a scan. The plain join with `record_id = ANY($2)`
        // was planned, on a table not yet analysed, as a scan of every
        // state: 30 ms instead of 9 for a thousand records (tests/plans.rs).
        //
        // One record (a record page) binds its id as a scalar: with an
        // array PostgreSQL cannot tell how many ids a generic plan will
        // meet, so it plans every call afresh, which cost a page more than
        // the read (0.10 ms of planning for 0.03 ms of execution).
        let s_columns = state_columns_of("s");
        let sql;
        let query = match record_ids {
            [id] => {
                sql = format!(
                    "SELECT {s_columns}, r.debounce FROM sync_states AS s
                     JOIN records AS r ON r.id = s.record_id
                     WHERE s.tenant_id = $1 AND s.record_id = $2
                     ORDER BY s.integration_id"
                );
                sqlx::query(&sql).bind(tenant_id).bind(*id)
            }
            ids => {
                sql = format!(
                    "SELECT {s_columns}, r.debounce
                     FROM (SELECT DISTINCT id FROM UNNEST($2::bigint[]) AS u (id)) AS k
                     CROSS JOIN LATERAL (SELECT debounce FROM records WHERE id = k.id OFFSET 0) AS r
                     CROSS JOIN LATERAL (
                         SELECT {STATE_COLUMNS} FROM sync_states WHERE record_id = k.id AND tenant_id = $1 OFFSET 0
                     ) AS s
                     ORDER BY s.record_id, s.integration_id"
                );
                sqlx::query(&sql).bind(tenant_id).bind(ids)
            }
        };
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let debounce = debounce::from_json(&row.try_get("debounce").map_err(corrupt)?)?;
                Ok(debounce::effective(state_from_row(row)?, &debounce))
            })
            .collect()
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
        // The record first, as a record write locks it (records.rs), so the
        // two never wait for each other in a cycle.
        sqlx::query("SELECT 1 FROM records WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(record_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        // A new quiet period due at `due_at`: the record's debounce entry of
        // an earlier one (migration 0007) must not hold it back.
        let moved = sqlx::query(
            "WITH moved AS (
                 UPDATE sync_states
                 SET status = 'sync_pending', due_at = $4, wake_at = $4, pending_since = $4, attempts = 0,
                     changed_during_sync = FALSE, updated_at = $4
                 WHERE tenant_id = $1 AND record_id = $2 AND status = 'sync_failed'
                   AND ($3::bigint IS NULL OR integration_id = $3)
                 RETURNING integration_id
             ), cleared AS (
                 UPDATE records SET debounce = debounce - ARRAY(SELECT integration_id::text FROM moved)
                 WHERE tenant_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM moved)
             )
             SELECT count(*) FROM moved",
        )
        .bind(tenant_id)
        .bind(record_id)
        .bind(integration_id)
        .bind(ms(due_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let moved = u64::try_from(moved.try_get::<i64, _>(0).map_err(corrupt)?).unwrap_or(0);
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
