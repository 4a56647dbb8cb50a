//! The job queue ([`JobQueue`]) on PostgreSQL: background work as rows of
//! `jobs` (migration 0010), shared by every process on the database.
//!
//! A claim takes due jobs with `FOR UPDATE SKIP LOCKED`, like the sync
//! queue's (claims.rs), so concurrent claimers partition the due jobs
//! instead of waiting on each other. That alone cannot hold a kind's
//! concurrency, though: two claimers that count the running jobs at the
//! same time both see room for the same slots. So the claims of one kind
//! are serialized by a transaction-level advisory lock on a hash of the
//! kind, taken in a statement of its own before the count: under READ
//! COMMITTED the count's statement then reads a snapshot taken after the
//! lock was granted, which holds every earlier claim of the kind (a
//! transaction's commit is visible before its locks are released). Claims
//! of other kinds, finishes and heartbeats do not take the lock.
//!
//! Enqueues and retries queue `pg_notify` on the job channel in their
//! transaction (signal.rs), so job workers of every process wake on commit.

use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::{Job, JobOutcome, JobQueue, JobStatus, NewJob, StoreError, StoreResult, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::Row;
use tokio::sync::Notify;

use crate::{corrupt, db_error, ms, signal, PgStore};

/// Inserts a job in the caller's transaction and queues the cross-process
/// job signal (delivered on commit); returns its id, or `None` when an
/// unfinished job holds its unique key (nothing is inserted). The caller
/// wakes this process's job workers after its commit
/// ([`PgStore::wake_job_workers`]). A job whose `unique_key` is unset but
/// whose `subject_id` is set gets `"{kind}:{subject_id}"`
/// ([`NewJob::held_key`]).
pub(crate) async fn insert(conn: &mut sqlx::PgConnection, job: &NewJob, now: Timestamp) -> StoreResult<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO jobs (kind, tenant_id, subject_id, unique_key, payload, status, due_at, attempts, max_attempts, claim, created_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, 0, $7, 0, $8)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&job.kind)
    .bind(job.tenant_id)
    .bind(job.subject_id)
    .bind(job.held_key())
    .bind(&job.payload)
    .bind(ms(job.due_at))
    .bind(job.max_attempts)
    .bind(ms(now))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if id.is_some() {
        signal::notify_jobs_on_commit(conn).await.map_err(db_error)?;
    }
    Ok(id)
}

impl PgStore {
    /// Wakes the job workers of this process after a commit that enqueued
    /// or re-queued a job.
    pub(crate) fn wake_job_workers(&self) {
        self.job_signal.notify_waiters();
    }
}

/// The advisory locks of job claims live in the two-key space (apart from
/// the one-key locks elsewhere), this first key ("lsJb") and a hash of the
/// kind. Two kinds whose hashes collide only share their claims' turn.
const CLAIM_LOCKS: i32 = 0x6c73_4a62;

/// How often an enqueue looks again for the holder of a unique key that
/// finished between its insert and its look; each time is a new chance
/// to insert.
const ENQUEUE_TRIES: usize = 5;

const JOB_COLUMNS: &str = "id, kind, tenant_id, subject_id, unique_key, payload, status, due_at, attempts, \
     max_attempts, claim, last_error, created_at, finished_at";

fn job_from_row(row: &PgRow) -> StoreResult<Job> {
    let status: String = row.try_get("status").map_err(corrupt)?;
    Ok(Job {
        id: row.try_get("id").map_err(corrupt)?,
        kind: row.try_get("kind").map_err(corrupt)?,
        tenant_id: row.try_get("tenant_id").map_err(corrupt)?,
        subject_id: row.try_get("subject_id").map_err(corrupt)?,
        unique_key: row.try_get("unique_key").map_err(corrupt)?,
        payload: row.try_get("payload").map_err(corrupt)?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job status {status:?}")))?,
        due_at: row.try_get("due_at").map_err(corrupt)?,
        attempts: row.try_get("attempts").map_err(corrupt)?,
        max_attempts: row.try_get("max_attempts").map_err(corrupt)?,
        claim: row.try_get("claim").map_err(corrupt)?,
        last_error: row.try_get("last_error").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        finished_at: row.try_get("finished_at").map_err(corrupt)?,
    })
}

fn jobs_from_rows(rows: &[PgRow]) -> StoreResult<Vec<Job>> {
    rows.iter().map(job_from_row).collect()
}

#[async_trait]
impl JobQueue for PgStore {
    fn job_signal(&self) -> Arc<Notify> {
        self.job_signal.clone()
    }

    /// The insert waits for a concurrent enqueue of the same key to commit
    /// (and then finds the key held); the holder is then read by a second
    /// statement, which may find it finished meanwhile: the key is free
    /// again, so the enqueue starts over.
    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> StoreResult<(Job, bool)> {
        for _ in 0..ENQUEUE_TRIES {
            let mut tx = self.pool.begin().await.map_err(db_error)?;
            if let Some(id) = insert(&mut tx, &job, now).await? {
                let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                self.wake_job_workers();
                return Ok((job_from_row(&row)?, true));
            }
            let holder = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE unique_key = $1 AND status IN ('queued', 'running')"
            ))
            .bind(job.held_key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            if let Some(row) = holder {
                return Ok((job_from_row(&row)?, false));
            }
        }
        Err(StoreError::Database(format!(
            "the unique key {:?} changed hands {ENQUEUE_TRIES} times during one enqueue",
            job.held_key()
        )))
    }

    /// The count and the claim are one statement, after the kind's lock
    /// (see the module docs). `MATERIALIZED` keeps the locking subquery
    /// from being inlined (and run more than once).
    async fn claim_jobs(
        &self,
        kind: &str,
        concurrency: u32,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<Job>> {
        if concurrency == 0 || limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(CLAIM_LOCKS)
            .bind(kind)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "WITH running AS (
                 SELECT count(*) AS n FROM jobs WHERE kind = $1 AND status = 'running' AND due_at > $2
             ), taken AS MATERIALIZED (
                 SELECT id AS taken_id, due_at AS was_due FROM jobs
                 WHERE kind = $1 AND status IN ('queued', 'running') AND due_at <= $2
                 ORDER BY due_at, id
                 LIMIT LEAST($4, GREATEST($5 - (SELECT n FROM running), 0))
                 FOR UPDATE SKIP LOCKED
             ), claimed AS (
                 UPDATE jobs AS j
                 SET status = 'running', due_at = $3, claim = j.claim + 1, attempts = j.attempts + 1
                 FROM taken AS t
                 WHERE j.id = t.taken_id
                 RETURNING {JOB_COLUMNS}, t.was_due
             )
             SELECT * FROM claimed ORDER BY was_due, id"
        ))
        .bind(kind)
        .bind(ms(now))
        .bind(ms(lease_until))
        .bind(i64::from(limit))
        .bind(i64::from(concurrency))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        jobs_from_rows(&rows)
    }

    async fn extend_job_lease(&self, job_id: i64, claim: i64, lease_until: Timestamp) -> StoreResult<bool> {
        let moved = sqlx::query("UPDATE jobs SET due_at = $3 WHERE id = $1 AND claim = $2 AND status = 'running'")
            .bind(job_id)
            .bind(claim)
            .bind(ms(lease_until))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(moved.rows_affected() == 1)
    }

    async fn finish_job(&self, job_id: i64, claim: i64, outcome: JobOutcome, now: Timestamp) -> StoreResult<bool> {
        let next = outcome.finished(now);
        let requeued = next.status == JobStatus::Queued;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let applied = sqlx::query(
            "UPDATE jobs SET status = $3, due_at = $4, last_error = COALESCE($5, last_error), finished_at = $6
             WHERE id = $1 AND claim = $2 AND status = 'running'",
        )
        .bind(job_id)
        .bind(claim)
        .bind(next.status.as_str())
        .bind(next.due_at.map(ms))
        .bind(next.last_error)
        .bind(next.finished_at.map(ms))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            == 1;
        if applied && requeued {
            signal::notify_jobs_on_commit(&mut tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if applied && requeued {
            self.wake_job_workers();
        }
        Ok(applied)
    }

    async fn get_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn jobs_for_subject(&self, kind: &str, subject_id: i64) -> StoreResult<Vec<Job>> {
        // Two statements, so that the one with a kind uses `jobs_by_subject`.
        let filter = if kind.is_empty() { "$1 = '' AND subject_id = $2" } else { "kind = $1 AND subject_id = $2" };
        let rows = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY created_at, id"))
            .bind(kind)
            .bind(subject_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        jobs_from_rows(&rows)
    }

    async fn next_job_due_at(&self, kind: &str) -> StoreResult<Option<Timestamp>> {
        // Served by the partial index jobs_due (same predicate).
        sqlx::query_scalar("SELECT min(due_at) FROM jobs WHERE kind = $1 AND status IN ('queued', 'running')")
            .bind(kind)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }
}
