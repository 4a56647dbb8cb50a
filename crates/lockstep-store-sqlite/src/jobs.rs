//! Placeholder: [`JobQueue`] is not implemented yet on this backend.

#![allow(unused_variables)]

use async_trait::async_trait;
use lockstep_store::*;

use crate::codec::ms;
use crate::{db_error, SqliteStore};

/// Inserts a job in the caller's transaction; returns its id, or `None`
/// when an unfinished job holds its unique key (nothing is inserted). The
/// caller wakes the job workers after its commit
/// ([`SqliteStore::wake_job_workers`]). A job whose `unique_key` is unset
/// but whose `subject_id` is set gets `"{kind}:{subject_id}"`.
pub(crate) fn insert(conn: &rusqlite::Connection, job: &NewJob, now: Timestamp) -> StoreResult<Option<i64>> {
    let unique_key = job.unique_key.clone().or_else(|| job.subject_id.map(|subject| format!("{}:{subject}", job.kind)));
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO jobs (kind, tenant_id, subject_id, unique_key, payload, status, due_at, attempts, max_attempts, claim, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, 0, ?7, 0, ?8)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .map_err(db_error)?;
    use rusqlite::OptionalExtension;
    stmt.query_row(
        rusqlite::params![
            job.kind,
            job.tenant_id,
            job.subject_id,
            unique_key,
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
        self.signal.notify_waiters();
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    fn job_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.signal.clone()
    }
    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> StoreResult<(Job, bool)> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn claim_jobs(
        &self,
        kind: &str,
        concurrency: u32,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<Job>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn extend_job_lease(&self, job_id: i64, claim: i64, lease_until: Timestamp) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn finish_job(&self, job_id: i64, claim: i64, outcome: JobOutcome, now: Timestamp) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn get_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn jobs_for_subject(&self, kind: &str, subject_id: i64) -> StoreResult<Vec<Job>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn next_job_due_at(&self, kind: &str) -> StoreResult<Option<Timestamp>> {
        Err(StoreError::Database("not implemented".into()))
    }
}
