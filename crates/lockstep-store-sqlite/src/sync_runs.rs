//! Sync Now runs ([`SyncRunStore`]): the runs, their logs, and their end.
//! The sync states a run claims and finishes are in `run_claims`.
//!
//! SQLite has one writer, so "one running run per integration" needs no
//! more than a look inside the `IMMEDIATE` transaction that creates one;
//! the partial unique index `sync_runs_one_running` stands behind it.

use async_trait::async_trait;
use lockstep_store::{
    ChangeAction, LogOutcome, NewJob, NewNotification, RunClaim, StoreError, StoreResult, SyncError, SyncLogEntry,
    SyncRun, SyncRunCounts, SyncRunResults, SyncRunStart, SyncRunStatus, SyncRunStore, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{corrupt, json, ms, opt_time, time};
use crate::overviews::{has_integration, insert_subject_job, notify_if_backgrounded, Ending};
use crate::{db_error, SqliteStore};

const RUN_COLUMNS: &str = "id, tenant_id, integration_id, overview_id, started_by, started_at, finished_at, status, \
     error, created, updated, deactivated, unchanged, failed, backgrounded";

fn run(row: &Row<'_>) -> rusqlite::Result<SyncRun> {
    let status: String = row.get(7)?;
    Ok(SyncRun {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        integration_id: row.get(2)?,
        overview_id: row.get(3)?,
        started_by: row.get(4)?,
        started_at: time(row.get(5)?)?,
        finished_at: opt_time(row.get(6)?)?,
        status: SyncRunStatus::parse(&status).ok_or_else(|| corrupt("sync run status", &status))?,
        error: row.get(8)?,
        counts: SyncRunCounts {
            created: row.get(9)?,
            updated: row.get(10)?,
            deactivated: row.get(11)?,
            unchanged: row.get(12)?,
            failed: row.get(13)?,
        },
        backgrounded: row.get(14)?,
    })
}

fn get(conn: &Connection, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>> {
    conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = ?1 AND id = ?2"))
        .and_then(|mut stmt| stmt.query_row(params![tenant_id, run_id], run).optional())
        .map_err(db_error)
}

fn create(
    conn: &mut Connection,
    tenant_id: i64,
    integration_id: i64,
    overview_id: Option<i64>,
    started_by: i64,
    job: NewJob,
    now: Timestamp,
) -> StoreResult<Option<SyncRunStart>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    if !has_integration(&tx, tenant_id, integration_id)? {
        return Ok(None);
    }
    let running = tx
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE integration_id = ?1 AND status = 'running'"
        ))
        .and_then(|mut stmt| stmt.query_row([integration_id], run).optional())
        .map_err(db_error)?;
    if let Some(running) = running {
        return Ok(Some(SyncRunStart::AlreadyRunning(running)));
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO sync_runs (tenant_id, integration_id, overview_id, started_by, started_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, 'running') RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant_id, integration_id, overview_id, started_by, ms(now)], |r| r.get(0))
        })
        .map_err(db_error)?;
    insert_subject_job(&tx, tenant_id, id, job, now)?;
    let created = get(&tx, tenant_id, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("sync run {id} vanished while it was created")))?;
    tx.commit().map_err(db_error)?;
    Ok(Some(SyncRunStart::Started(created)))
}

fn list(
    conn: &Connection,
    tenant_id: i64,
    integration_id: i64,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<SyncRun>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs
             WHERE tenant_id = ?1 AND integration_id = ?2 AND id < ?3
             ORDER BY id DESC LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![tenant_id, integration_id, before_id.unwrap_or(i64::MAX), limit], run)
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn log_entry(row: &Row<'_>) -> rusqlite::Result<SyncLogEntry> {
    let action: String = row.get(2)?;
    let outcome: String = row.get(4)?;
    let errors: String = row.get(5)?;
    Ok(SyncLogEntry {
        seq: row.get(0)?,
        external_id: row.get(1)?,
        action: ChangeAction::parse(&action).ok_or_else(|| corrupt("log action", &action))?,
        attributes: json(&row.get::<_, String>(3)?)?,
        outcome: LogOutcome::parse(&outcome).ok_or_else(|| corrupt("log outcome", &outcome))?,
        errors: serde_json::from_str::<Vec<SyncError>>(&errors).map_err(|e| corrupt("log errors", e))?,
        at: time(row.get(6)?)?,
    })
}

fn list_log(
    conn: &Connection,
    tenant_id: i64,
    run_id: i64,
    outcome: Option<LogOutcome>,
    after_seq: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<SyncLogEntry>> {
    // Two statements, so each walks its own index (see overviews.rs).
    let filter = if outcome.is_some() { "AND outcome = ?5" } else { "AND ?5 IS NULL" };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT seq, external_id, action, attributes, outcome, errors, at FROM sync_run_log
             WHERE run_id = ?2 AND seq > ?3 {filter}
               AND EXISTS (SELECT 1 FROM sync_runs WHERE id = ?2 AND tenant_id = ?1)
             ORDER BY seq LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(
            params![tenant_id, run_id, after_seq.unwrap_or(0), limit, outcome.map(LogOutcome::as_str)],
            log_entry,
        )
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn background(conn: &mut Connection, tenant_id: i64, run_id: i64) -> StoreResult<bool> {
    conn.prepare_cached("UPDATE sync_runs SET backgrounded = 1 WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'")
        .and_then(|mut stmt| stmt.execute(params![tenant_id, run_id]))
        .map(|n| n > 0)
        .map_err(db_error)
}

fn finish(
    conn: &mut Connection,
    tenant_id: i64,
    run_id: i64,
    status: SyncRunStatus,
    error: Option<&str>,
    ending: &Ending<'_>,
) -> StoreResult<Option<(SyncRun, bool)>> {
    if status == SyncRunStatus::Running {
        return Err(StoreError::Refused("a sync run ends succeeded, partially failed or failed, not running".into()));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let backgrounded: Option<bool> = tx
        .prepare_cached(
            "UPDATE sync_runs SET status = ?3, error = ?4, finished_at = ?5
             WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'
             RETURNING backgrounded",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant_id, run_id, status.as_str(), error, ms(ending.now)], |r| r.get(0)).optional()
        })
        .map_err(db_error)?;
    let Some(backgrounded) = backgrounded else { return Ok(None) };
    let emails = notify_if_backgrounded(&tx, tenant_id, backgrounded, ending)?;
    let finished = get(&tx, tenant_id, run_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("sync run {run_id} vanished while it ended")))?;
    tx.commit().map_err(db_error)?;
    Ok(Some((finished, emails)))
}

#[async_trait]
impl SyncRunStore for SqliteStore {
    async fn create_sync_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        started_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRunStart>> {
        let start = self.write(|conn| create(conn, tenant_id, integration_id, overview_id, started_by, job, now))?;
        if matches!(start, Some(SyncRunStart::Started(_))) {
            self.wake_job_workers();
        }
        Ok(start)
    }

    async fn get_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>> {
        self.read(|conn| get(conn, tenant_id, run_id))
    }

    async fn list_sync_runs(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncRun>> {
        self.read(|conn| list(conn, tenant_id, integration_id, before_id, limit))
    }

    async fn claim_syncs_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<RunClaim>> {
        self.write(|conn| crate::run_claims::claim(conn, tenant_id, integration_id, record_ids, now, lease_until))
    }

    async fn record_sync_run_results(
        &self,
        tenant_id: i64,
        run_id: i64,
        results: SyncRunResults,
    ) -> StoreResult<Vec<bool>> {
        let (applied, any_applied) =
            self.write(|conn| crate::run_claims::record_results(conn, tenant_id, run_id, results))?;
        // As after finish_syncs: a retry or a re-pend is new due work.
        if any_applied {
            self.wake_workers();
        }
        Ok(applied)
    }

    async fn list_sync_run_log(
        &self,
        tenant_id: i64,
        run_id: i64,
        outcome: Option<LogOutcome>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncLogEntry>> {
        self.read(|conn| list_log(conn, tenant_id, run_id, outcome, after_seq, limit))
    }

    async fn background_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<bool> {
        self.write(|conn| background(conn, tenant_id, run_id))
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
        let ending = Ending { notification: notification.as_ref(), now };
        let finished = self.write(|conn| finish(conn, tenant_id, run_id, status, error.as_deref(), &ending))?;
        Ok(finished.map(|(run, emails)| {
            if emails {
                self.wake_job_workers();
            }
            run
        }))
    }
}
