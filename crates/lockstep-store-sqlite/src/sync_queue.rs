//! The sync states as a queue ([`SyncQueue`]): claiming due syncs under a
//! lease, finishing them fenced by the claim, retries, the next due time and
//! the counts per status.

use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::finish_rules::finished_state;
use lockstep_store::{
    ClaimedSync, Record, StoreError, StoreResult, SyncFinish, SyncQueue, SyncState, SyncStatus, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::Notify;

use crate::codec::{id_list, ms, opt_time, record, sync_state, RECORD_COLUMNS, STATE_COLUMNS};
use crate::{db_error, SqliteStore};

fn retry_failed(
    conn: &mut Connection,
    tenant_id: i64,
    record_id: i64,
    integration_id: Option<i64>,
    due_at: Timestamp,
) -> StoreResult<u64> {
    conn.execute(
        "UPDATE sync_states SET status = 'sync_pending', due_at = ?4, wake_at = ?4, pending_since = ?4, attempts = 0, updated_at = ?4
         WHERE tenant_id = ?1 AND record_id = ?2 AND (?3 IS NULL OR integration_id = ?3) AND status = 'sync_failed'",
        params![tenant_id, record_id, integration_id, ms(due_at)],
    )
    .map(|n| n as u64)
    .map_err(db_error)
}

/// Claims due work: pending states whose grace period is over, and syncing
/// states whose lease (or retry time) has passed. The claim number grows, so
/// a worker whose lease expired can no longer finish.
///
/// The queue is indexed by wake-up time (migration 0002). States that woke
/// but were debounced since they were queued are deferred first: their
/// wake-up time moves to their due time, so the next wake-up is the real one.
/// The claim itself checks the due time, so it finds every due state even
/// when more than `limit` states are deferred.
fn claim_due(
    conn: &mut Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> StoreResult<Vec<ClaimedSync>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    // Only the first `limit` woken states are looked at: filtering on
    // `due_at > now` inside the walk would read every due state of a
    // backlog to find the few debounced ones. Those further along are
    // deferred by later claims, and the claim below skips them meanwhile.
    tx.prepare_cached(
        "UPDATE sync_states SET wake_at = due_at
         WHERE (record_id, integration_id) IN (
            SELECT record_id, integration_id FROM (
                SELECT record_id, integration_id, due_at FROM sync_states
                WHERE status IN ('sync_pending', 'syncing') AND wake_at <= ?1
                ORDER BY wake_at LIMIT ?2)
            WHERE due_at > ?1)",
    )
    .and_then(|mut stmt| stmt.execute(params![ms(now), limit]))
    .map_err(db_error)?;
    let states: Vec<SyncState> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "UPDATE sync_states SET
                    status = 'syncing',
                    claim = claim + 1,
                    attempts = attempts + 1,
                    changed_during_sync = CASE WHEN status = 'sync_pending' THEN 0 ELSE changed_during_sync END,
                    due_at = ?2,
                    wake_at = ?2,
                    updated_at = ?1
                 WHERE (record_id, integration_id) IN (
                    SELECT record_id, integration_id FROM sync_states
                    WHERE status IN ('sync_pending', 'syncing') AND wake_at <= ?1 AND due_at <= ?1
                    ORDER BY wake_at LIMIT ?3)
                 RETURNING {STATE_COLUMNS}"
            ))
            .map_err(db_error)?;
        let rows = stmt.query_map(params![ms(now), ms(lease_until), limit], sync_state).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    let ids: Vec<i64> = states.iter().map(|s| s.record_id).collect();
    let records: Vec<Record> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE id IN (SELECT value FROM json_each(?1))"
            ))
            .map_err(db_error)?;
        let rows = stmt.query_map([id_list(&ids)], record).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    tx.commit().map_err(db_error)?;
    let by_id: std::collections::HashMap<i64, Record> = records.into_iter().map(|r| (r.id, r)).collect();
    Ok(states
        .into_iter()
        .filter_map(|state| by_id.get(&state.record_id).cloned().map(|record| ClaimedSync { state, record }))
        .collect())
}

/// Applies finishes in one transaction; each only if its claim still
/// holds. The write lock is held from the first read, so the
/// `changed_during_sync` read here is the one the finish acts on.
fn finish(conn: &mut Connection, finishes: &[SyncFinish]) -> StoreResult<Vec<bool>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let applied = apply_finishes(&tx, finishes)?;
    tx.commit().map_err(db_error)?;
    Ok(applied)
}

/// The finishes of [`finish`], inside the caller's `IMMEDIATE` transaction
/// (a Sync Now run stores its finishes with its log entries). Returns, per
/// finish, whether it applied.
pub(crate) fn apply_finishes(tx: &Connection, finishes: &[SyncFinish]) -> StoreResult<Vec<bool>> {
    let mut applied = Vec::with_capacity(finishes.len());
    for f in finishes {
        let changed_during_sync: Option<bool> = tx
            .prepare_cached(
                "SELECT changed_during_sync FROM sync_states
                 WHERE record_id = ?1 AND integration_id = ?2 AND claim = ?3 AND status = 'syncing'",
            )
            .and_then(|mut s| s.query_row(params![f.record_id, f.integration_id, f.claim], |r| r.get(0)).optional())
            .map_err(db_error)?;
        let Some(changed_during_sync) = changed_during_sync else {
            applied.push(false);
            continue;
        };
        let next = finished_state(f, changed_during_sync);
        let errors = serde_json::to_string(next.errors).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.prepare_cached(
            "UPDATE sync_states SET
                status = ?3, due_at = ?4, wake_at = ?4, pending_since = ?5,
                attempts = CASE WHEN ?6 THEN 0 ELSE attempts END,
                changed_during_sync = ?7,
                last_synced_at = COALESCE(?8, last_synced_at),
                errors = ?9,
                remote_id = COALESCE(?10, remote_id),
                updated_at = ?11
             WHERE record_id = ?1 AND integration_id = ?2",
        )
        .and_then(|mut s| {
            s.execute(params![
                f.record_id,
                f.integration_id,
                next.status.as_str(),
                next.due_at.map(ms),
                next.pending_since.map(ms),
                next.reset_attempts,
                next.changed_during_sync,
                next.last_synced_at.map(ms),
                errors,
                next.remote_id,
                ms(next.updated_at),
            ])
        })
        .map_err(db_error)?;
        applied.push(true);
    }
    Ok(applied)
}

/// The earliest wake-up time, which is no later than the earliest due time.
fn next_due_at(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    let min: Option<i64> = conn
        .query_row("SELECT MIN(wake_at) FROM sync_states WHERE status IN ('sync_pending', 'syncing')", [], |r| r.get(0))
        .map_err(db_error)?;
    opt_time(min).map_err(db_error)
}

/// The counts the triggers of migration 0005 keep: four rows, whatever the
/// number of states.
fn status_counts(conn: &Connection) -> StoreResult<Vec<(SyncStatus, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT status, count FROM sync_status_counts ORDER BY status").map_err(db_error)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(db_error)?;
    let mut out = Vec::new();
    for row in rows {
        let (status, count) = row.map_err(db_error)?;
        let status = SyncStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sync status {status:?} in sync_status_counts")))?;
        out.push((status, count));
    }
    Ok(out)
}

/// A count over the states of the tenant's integrations, each integration
/// a range of the index on (integration_id, status) (migration 0010): no
/// row of the table is read. The states of an integration are all of its
/// tenant's records, so no filter on their `tenant_id` is needed.
fn integration_status_counts(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<(i64, SyncStatus, i64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.integration_id, s.status, count(*) FROM integrations AS i
             JOIN sync_states AS s ON s.integration_id = i.id
             WHERE i.tenant_id = ?1
             GROUP BY s.integration_id, s.status ORDER BY s.integration_id, s.status",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([tenant_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .map_err(db_error)?;
    let mut out = Vec::new();
    for row in rows {
        let (integration_id, status, count) = row.map_err(db_error)?;
        let status = SyncStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sync status {status:?} in sync_states")))?;
        out.push((integration_id, status, count));
    }
    Ok(out)
}

#[async_trait]
impl SyncQueue for SqliteStore {
    fn work_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    async fn retry_failed(
        &self,
        tenant_id: i64,
        record_id: i64,
        integration_id: Option<i64>,
        due_at: Timestamp,
    ) -> StoreResult<u64> {
        let moved = self.write(|conn| retry_failed(conn, tenant_id, record_id, integration_id, due_at))?;
        if moved > 0 {
            self.wake_workers();
        }
        Ok(moved)
    }

    async fn claim_due_syncs(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedSync>> {
        self.write(|conn| claim_due(conn, now, lease_until, limit))
    }

    async fn finish_syncs(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>> {
        let applied = self.write(|conn| finish(conn, &finishes))?;
        if applied.iter().any(|a| *a) {
            self.wake_workers();
        }
        Ok(applied)
    }

    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
        self.read(next_due_at)
    }

    async fn sync_status_counts(&self) -> StoreResult<Vec<(SyncStatus, i64)>> {
        self.read(status_counts)
    }

    async fn integration_status_counts(&self, tenant_id: i64) -> StoreResult<Vec<(i64, SyncStatus, i64)>> {
        self.read(|conn| integration_status_counts(conn, tenant_id))
    }
}
