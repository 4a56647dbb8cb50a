//! Sync Now runs ([`SyncRunStore`]): the runs, their logs, and their end.
//! The sync states a run claims and finishes are in `run_claims`.
//!
//! **One running run per integration.** The partial unique index
//! `sync_runs_one_running` is the lock: a create inserts with `ON CONFLICT
//! DO NOTHING` on it, which waits for a concurrent creator of the same
//! integration to commit or roll back, and then either inserts or does
//! nothing. When it did nothing, the running run is read in a new statement
//! (a new snapshot under READ COMMITTED, so it sees the creator that won).
//! If that run ended in between, the create simply tries again. Two
//! concurrent creates thus end with exactly one run started and the other
//! answered with it.
//!
//! **Ordering with the run's end.** A batch of results updates the run's
//! counts first, taking the row's lock for the rest of its transaction, so
//! results and the end are ordered: results after the end store nothing,
//! and two batches of one run never draw the same log `seq`. The end reads
//! `backgrounded` in its own update, as an overview's does (overviews.rs).

use async_trait::async_trait;
use lockstep_store::{
    ChangeAction, LogOutcome, NewJob, NewNotification, RunClaim, StoreError, StoreResult, SyncError, SyncLogEntry,
    SyncRun, SyncRunCounts, SyncRunResults, SyncRunStart, SyncRunStatus, SyncRunStore, Timestamp,
};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::overviews::{has_integration, insert_subject_job, notify_if_backgrounded};
use crate::{corrupt, db_error, ms, PgStore};

const RUN_COLUMNS: &str = "id, tenant_id, integration_id, overview_id, started_by, started_at, finished_at, status, \
     error, created, updated, deactivated, unchanged, failed, backgrounded";

/// How often a create tries again when the run it collided with ended
/// before it could be read.
const CREATE_ATTEMPTS: u32 = 3;

fn run_from_row(row: &PgRow) -> StoreResult<SyncRun> {
    let status: String = row.try_get("status").map_err(corrupt)?;
    Ok(SyncRun {
        id: row.try_get("id").map_err(corrupt)?,
        tenant_id: row.try_get("tenant_id").map_err(corrupt)?,
        integration_id: row.try_get("integration_id").map_err(corrupt)?,
        overview_id: row.try_get("overview_id").map_err(corrupt)?,
        started_by: row.try_get("started_by").map_err(corrupt)?,
        started_at: row.try_get("started_at").map_err(corrupt)?,
        finished_at: row.try_get("finished_at").map_err(corrupt)?,
        status: SyncRunStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sync run status {status:?}")))?,
        error: row.try_get("error").map_err(corrupt)?,
        counts: SyncRunCounts {
            created: row.try_get("created").map_err(corrupt)?,
            updated: row.try_get("updated").map_err(corrupt)?,
            deactivated: row.try_get("deactivated").map_err(corrupt)?,
            unchanged: row.try_get("unchanged").map_err(corrupt)?,
            failed: row.try_get("failed").map_err(corrupt)?,
        },
        backgrounded: row.try_get("backgrounded").map_err(corrupt)?,
    })
}

async fn get(conn: &mut PgConnection, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(run_id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(run_from_row).transpose()
}

fn log_entry_from_row(row: &PgRow) -> StoreResult<SyncLogEntry> {
    let action: String = row.try_get("action").map_err(corrupt)?;
    let outcome: String = row.try_get("outcome").map_err(corrupt)?;
    let errors: Value = row.try_get("errors").map_err(corrupt)?;
    Ok(SyncLogEntry {
        seq: row.try_get("seq").map_err(corrupt)?,
        external_id: row.try_get("external_id").map_err(corrupt)?,
        action: ChangeAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown log action {action:?}")))?,
        attributes: row.try_get("attributes").map_err(corrupt)?,
        outcome: LogOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown log outcome {outcome:?}")))?,
        errors: serde_json::from_value::<Vec<SyncError>>(errors).map_err(corrupt)?,
        at: row.try_get("at").map_err(corrupt)?,
    })
}

impl PgStore {
    /// One attempt at creating a run: `None` when the run it collided with
    /// ended before it could be read (nothing was written; try again).
    async fn try_create_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        started_by: i64,
        job: &NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<Option<SyncRunStart>>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if !has_integration(&mut tx, tenant_id, integration_id).await? {
            return Ok(Some(None));
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO sync_runs (tenant_id, integration_id, overview_id, started_by, started_at, status)
             VALUES ($1, $2, $3, $4, $5, 'running')
             ON CONFLICT (integration_id) WHERE status = 'running' DO NOTHING
             RETURNING id",
        )
        .bind(tenant_id)
        .bind(integration_id)
        .bind(overview_id)
        .bind(started_by)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(id) = id else {
            let row = sqlx::query(&format!(
                "SELECT {RUN_COLUMNS} FROM sync_runs WHERE integration_id = $1 AND status = 'running'"
            ))
            .bind(integration_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            return Ok(row.as_ref().map(run_from_row).transpose()?.map(|run| Some(SyncRunStart::AlreadyRunning(run))));
        };
        insert_subject_job(&mut tx, tenant_id, id, job.clone(), now).await?;
        let created = get(&mut tx, tenant_id, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("sync run {id} vanished while it was created")))?;
        tx.commit().await.map_err(db_error)?;
        self.wake_job_workers();
        Ok(Some(Some(SyncRunStart::Started(created))))
    }
}

#[async_trait]
impl SyncRunStore for PgStore {
    async fn create_sync_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        started_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRunStart>> {
        let now = ms(now);
        for _ in 0..CREATE_ATTEMPTS {
            if let Some(start) =
                self.try_create_run(tenant_id, integration_id, overview_id, started_by, &job, now).await?
            {
                return Ok(start);
            }
        }
        Err(StoreError::Database(format!(
            "integration {integration_id}: a run kept starting and ending while another was being created"
        )))
    }

    async fn get_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        get(&mut conn, tenant_id, run_id).await
    }

    async fn list_sync_runs(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs
             WHERE tenant_id = $1 AND integration_id = $2 AND id < $3
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(integration_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(run_from_row).collect()
    }

    async fn claim_syncs_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<RunClaim>> {
        self.claim_for_run(tenant_id, integration_id, record_ids, ms(now), ms(lease_until)).await
    }

    async fn record_sync_run_results(
        &self,
        tenant_id: i64,
        run_id: i64,
        results: SyncRunResults,
    ) -> StoreResult<Vec<bool>> {
        self.record_run_results(tenant_id, run_id, results).await
    }

    async fn list_sync_run_log(
        &self,
        tenant_id: i64,
        run_id: i64,
        outcome: Option<LogOutcome>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncLogEntry>> {
        // Two statements, so each has a plan of its own index (overviews.rs).
        let filter = if outcome.is_some() { "AND outcome = $5" } else { "AND $5::text IS NULL" };
        let rows = sqlx::query(&format!(
            "SELECT seq, external_id, action, attributes, outcome, errors, at FROM sync_run_log
             WHERE run_id = $2 AND seq > $3 {filter}
               AND EXISTS (SELECT 1 FROM sync_runs WHERE id = $2 AND tenant_id = $1)
             ORDER BY seq LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(run_id)
        .bind(after_seq.unwrap_or(0))
        .bind(i64::from(limit))
        .bind(outcome.map(LogOutcome::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(log_entry_from_row).collect()
    }

    async fn background_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sync_runs SET backgrounded = true WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
        )
        .bind(tenant_id)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn finish_sync_run(
        &self,
        tenant_id: i64,
        run_id: i64,
        status: SyncRunStatus,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRun>> {
        if status == SyncRunStatus::Running {
            return Err(StoreError::Refused(
                "a sync run ends succeeded, partially failed or failed, not running".into(),
            ));
        }
        let now = ms(now);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let backgrounded: Option<bool> = sqlx::query_scalar(
            "UPDATE sync_runs SET status = $3, error = $4, finished_at = $5
             WHERE tenant_id = $1 AND id = $2 AND status = 'running'
             RETURNING backgrounded",
        )
        .bind(tenant_id)
        .bind(run_id)
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(backgrounded) = backgrounded else { return Ok(None) };
        let emails = notify_if_backgrounded(&mut tx, tenant_id, backgrounded, notification.as_ref(), now).await?;
        let finished = get(&mut tx, tenant_id, run_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("sync run {run_id} vanished while it ended")))?;
        tx.commit().await.map_err(db_error)?;
        if emails {
            self.wake_job_workers();
        }
        Ok(Some(finished))
    }
}
