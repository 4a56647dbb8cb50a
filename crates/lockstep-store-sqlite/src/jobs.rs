//! The job queue ([`JobQueue`]) on SQLite: background work as rows of
//! `jobs` (migration 0006), claimed under a lease, finished fenced by the
//! claim.
//!
//! SQLite has one writer at a time and every write here begins
//! `IMMEDIATE`, so a claim counts a kind's running jobs and takes more in
//! one transaction that nothing else (no other claim, no finish, no other
//! process on the same file) can interleave with: the per-kind concurrency
//! needs no lock of its own. The in-process [`Notify`] behind
//! [`JobQueue::job_signal`] is the store's `job_signal`, apart from the
//! sync queue's work signal so that job workers and sync workers do not
//! wake each other.

use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::{Job, JobOutcome, JobQueue, JobStatus, NewJob, StoreError, StoreResult, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::Notify;

use crate::codec::{corrupt, id_list, json, ms, opt_time, time};
use crate::{db_error, SqliteStore};

/// Inserts a job in the caller's transaction; returns its id, or `None`
/// when an unfinished job holds its unique key (nothing is inserted). The
/// caller wakes the job workers after its commit
/// ([`SqliteStore::wake_job_workers`]). A job whose `unique_key` is unset
/// but whose `subject_id` is set gets `"{kind}:{subject_id}"`
/// ([`NewJob::held_key`]).
pub(crate) fn insert(conn: &rusqlite::Connection, job: &NewJob, now: Timestamp) -> StoreResult<Option<i64>> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO jobs (kind, tenant_id, subject_id, unique_key, payload, status, due_at, attempts, max_attempts, claim, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, 0, ?7, 0, ?8)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .map_err(db_error)?;
    stmt.query_row(
        params![
            job.kind,
            job.tenant_id,
            job.subject_id,
            job.held_key(),
            job.payload.to_string(),
            ms(job.due_at),
            job.max_attempts,
            ms(now)
        ],
        |row| row.get(0),
    )
    .optional()
    .map_err(db_error)
}

impl SqliteStore {
    /// Wakes the job workers of this process after a commit that enqueued
    /// or re-queued a job.
    pub(crate) fn wake_job_workers(&self) {
        self.job_signal.notify_waiters();
    }
}

/// The columns [`job`] reads, in order.
const JOB_COLUMNS: &str = "id, kind, tenant_id, subject_id, unique_key, payload, status, due_at, attempts, \
     max_attempts, claim, last_error, created_at, finished_at";

fn job(row: &Row<'_>) -> rusqlite::Result<Job> {
    let status: String = row.get(6)?;
    Ok(Job {
        id: row.get(0)?,
        kind: row.get(1)?,
        tenant_id: row.get(2)?,
        subject_id: row.get(3)?,
        unique_key: row.get(4)?,
        payload: json(&row.get::<_, String>(5)?)?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt("job status", &status))?,
        due_at: opt_time(row.get(7)?)?,
        attempts: row.get(8)?,
        max_attempts: row.get(9)?,
        claim: row.get(10)?,
        last_error: row.get(11)?,
        created_at: time(row.get(12)?)?,
        finished_at: opt_time(row.get(13)?)?,
    })
}

fn get(conn: &Connection, job_id: i64) -> StoreResult<Option<Job>> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([job_id], job).optional())
        .map_err(db_error)
}

/// Inserts the job, or finds the unfinished job that holds its key, in one
/// transaction: the holder cannot finish in between.
fn enqueue(conn: &mut Connection, new: &NewJob, now: Timestamp) -> StoreResult<(Job, bool)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let (id, enqueued) = match insert(&tx, new, now)? {
        Some(id) => (id, true),
        None => {
            let holder: Option<i64> = tx
                .prepare_cached("SELECT id FROM jobs WHERE unique_key = ?1 AND status IN ('queued', 'running')")
                .and_then(|mut stmt| stmt.query_row([new.held_key()], |row| row.get(0)).optional())
                .map_err(db_error)?;
            let holder = holder.ok_or_else(|| {
                StoreError::Database(format!("job {:?} was refused, yet no unfinished job holds its key", new.kind))
            })?;
            (holder, false)
        }
    };
    let stored = get(&tx, id)?.ok_or_else(|| StoreError::Database(format!("job {id} vanished")))?;
    tx.commit().map_err(db_error)?;
    Ok((stored, enqueued))
}

/// Counts the kind's jobs running under a live lease and claims at most
/// the difference to `concurrency`, earliest due first.
fn claim(
    conn: &mut Connection,
    kind: &str,
    concurrency: u32,
    limit: u32,
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Vec<Job>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    // The repeated status test lets SQLite see that the partial index
    // `jobs_due` covers the query (it proves no `IN` from an `=`); without
    // it, the count would walk every finished job of the kind.
    let running: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM jobs
             WHERE kind = ?1 AND status IN ('queued', 'running') AND due_at > ?2 AND status = 'running'",
        )
        .and_then(|mut stmt| stmt.query_row(params![kind, ms(now)], |row| row.get(0)))
        .map_err(db_error)?;
    let room = (i64::from(concurrency) - running).clamp(0, i64::from(limit));
    if room == 0 {
        return Ok(Vec::new());
    }
    let taken: Vec<i64> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT id FROM jobs WHERE kind = ?1 AND status IN ('queued', 'running') AND due_at <= ?2
                 ORDER BY due_at, id LIMIT ?3",
            )
            .map_err(db_error)?;
        let rows = stmt.query_map(params![kind, ms(now), room], |row| row.get(0)).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    let mut claimed: Vec<Job> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "UPDATE jobs SET status = 'running', due_at = ?2, claim = claim + 1, attempts = attempts + 1
                 WHERE id IN (SELECT value FROM json_each(?1))
                 RETURNING {JOB_COLUMNS}"
            ))
            .map_err(db_error)?;
        let rows = stmt.query_map(params![id_list(&taken), ms(lease_until)], job).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    tx.commit().map_err(db_error)?;
    claimed.sort_by_key(|j| taken.iter().position(|&id| id == j.id));
    Ok(claimed)
}

fn finish(conn: &Connection, job_id: i64, claim: i64, outcome: &JobOutcome, now: Timestamp) -> StoreResult<bool> {
    let next = outcome.finished(now);
    conn.prepare_cached(
        "UPDATE jobs SET status = ?3, due_at = ?4, last_error = COALESCE(?5, last_error), finished_at = ?6
         WHERE id = ?1 AND claim = ?2 AND status = 'running'",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            job_id,
            claim,
            next.status.as_str(),
            next.due_at.map(ms),
            next.last_error,
            next.finished_at.map(ms)
        ])
    })
    .map(|n| n == 1)
    .map_err(db_error)
}

#[async_trait]
impl JobQueue for SqliteStore {
    fn job_signal(&self) -> Arc<Notify> {
        self.job_signal.clone()
    }

    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> StoreResult<(Job, bool)> {
        let (stored, enqueued) = self.write(|conn| enqueue(conn, &job, now))?;
        if enqueued {
            self.wake_job_workers();
        }
        Ok((stored, enqueued))
    }

    async fn claim_jobs(
        &self,
        kind: &str,
        concurrency: u32,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<Job>> {
        self.write(|conn| claim(conn, kind, concurrency, limit, now, lease_until))
    }

    async fn extend_job_lease(&self, job_id: i64, claim: i64, lease_until: Timestamp) -> StoreResult<bool> {
        self.write(|conn| {
            conn.prepare_cached("UPDATE jobs SET due_at = ?3 WHERE id = ?1 AND claim = ?2 AND status = 'running'")
                .and_then(|mut stmt| stmt.execute(params![job_id, claim, ms(lease_until)]))
                .map(|n| n == 1)
                .map_err(db_error)
        })
    }

    async fn finish_job(&self, job_id: i64, claim: i64, outcome: JobOutcome, now: Timestamp) -> StoreResult<bool> {
        let applied = self.write(|conn| finish(conn, job_id, claim, &outcome, now))?;
        if applied && matches!(outcome, JobOutcome::Retry { .. }) {
            self.wake_job_workers();
        }
        Ok(applied)
    }

    async fn get_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
        self.read(|conn| get(conn, job_id))
    }

    async fn jobs_for_subject(&self, kind: &str, subject_id: i64) -> StoreResult<Vec<Job>> {
        // Two statements, so that the one with a kind uses `jobs_by_subject`.
        let filter = if kind.is_empty() { "?1 = '' AND subject_id = ?2" } else { "kind = ?1 AND subject_id = ?2" };
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY created_at, id"))
                .map_err(db_error)?;
            let rows = stmt.query_map(params![kind, subject_id], job).map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)
        })
    }

    async fn next_job_due_at(&self, kind: &str) -> StoreResult<Option<Timestamp>> {
        self.read(|conn| {
            let min: Option<i64> = conn
                .prepare_cached("SELECT min(due_at) FROM jobs WHERE kind = ?1 AND status IN ('queued', 'running')")
                .and_then(|mut stmt| stmt.query_row([kind], |row| row.get(0)))
                .map_err(db_error)?;
            opt_time(min).map_err(db_error)
        })
    }
}
