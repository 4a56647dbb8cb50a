//! The sync states as a queue ([`SyncQueue`]): explicit retries and the
//! next wake-up time here; claiming and finishing, the lease protocol, in
//! `claims`; the counts per status in `status_counts`.

use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::{ClaimedSync, StoreError, StoreResult, SyncFinish, SyncQueue, SyncStatus, Timestamp};
use sqlx::Row;
use tokio::sync::Notify;

use crate::{corrupt, db_error, ms, signal, PgStore};

#[async_trait]
impl SyncQueue for PgStore {
    fn work_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    /// `retry_failed`. The trait passes no "now", so the new quiet period
    /// starts (`pending_since`) at the retry's due time.
    async fn retry_failed(
        &self,
        tenant_id: i64,
        record_id: i64,
        integration_id: Option<i64>,
        due_at: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // The record first, as a record write locks it (records.rs), so the
        // two never wait for each other in a cycle. `tenant_id + 0` is the
        // same test made useless to an index, so the row is found by its
        // primary key: for a tenant the statistics have not seen yet,
        // PostgreSQL took `tenant_id = $1` for the narrower condition and
        // walked every record of the tenant (65 ms at 100,000, not 0.03).
        sqlx::query("SELECT 1 FROM records WHERE id = $2 AND tenant_id + 0 = $1 FOR UPDATE")
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
                 WHERE id = $2 AND tenant_id + 0 = $1 AND EXISTS (SELECT 1 FROM moved)
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
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
        // Served by the partial index sync_states_wake (same predicate).
        sqlx::query_scalar("SELECT min(wake_at) FROM sync_states WHERE status IN ('sync_pending', 'syncing')")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn sync_status_counts(&self) -> StoreResult<Vec<(SyncStatus, i64)>> {
        crate::status_counts::read(&self.pool).await
    }

    /// A count over the states of the tenant's integrations, each
    /// integration a range of `sync_states_by_integration_status`
    /// (migration 0014). The states of an integration are all of its
    /// tenant's records, so no filter on their `tenant_id` is needed.
    async fn integration_status_counts(&self, tenant_id: i64) -> StoreResult<Vec<(i64, SyncStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT s.integration_id, s.status, count(*) AS count FROM integrations AS i
             JOIN sync_states AS s ON s.integration_id = i.id
             WHERE i.tenant_id = $1
             GROUP BY s.integration_id, s.status ORDER BY s.integration_id, s.status",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status").map_err(corrupt)?;
                let status = SyncStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown sync status {status:?} in sync_states")))?;
                Ok((row.try_get("integration_id").map_err(corrupt)?, status, row.try_get("count").map_err(corrupt)?))
            })
            .collect()
    }

    async fn claim_due_syncs(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedSync>> {
        self.claim(now, lease_until, limit).await
    }

    async fn finish_syncs(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>> {
        self.finish(finishes).await
    }
}
