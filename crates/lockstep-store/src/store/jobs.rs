//! The job queue: one durable queue for every kind of background work.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::{Job, JobOutcome, NewJob, StoreResult, Timestamp};

/// Background work as durable rows: enqueued in the same transaction as the
/// write that causes it (the methods of the other capabilities that take a
/// [`NewJob`]), claimed under a lease, finished fenced by the claim.
///
/// A worker that dies mid-job loses nothing: its lease runs out and the job
/// is claimed again, with its `attempts` one higher. Whether an attempt
/// beyond `max_attempts` is run or given up is the worker's rule, not the
/// store's: the store returns such a claim like any other.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Signalled after a commit that enqueued or re-queued a job, in this
    /// process and — on PostgreSQL — in every process on the same database.
    fn job_signal(&self) -> Arc<Notify>;

    /// Enqueues a job. When `unique_key` is set and a queued or running job
    /// holds it, nothing is enqueued and that job is returned. Returns the
    /// job and whether it was enqueued by this call.
    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> StoreResult<(Job, bool)>;

    /// Claims up to `limit` jobs of `kind`, earliest due first: `queued`
    /// jobs whose `due_at` has passed, and `running` jobs whose lease has
    /// passed. Never lets more than `concurrency` jobs of the kind be
    /// running under a live lease at once, across all processes. Each
    /// claimed job becomes `running`, due at `lease_until`, its `claim` and
    /// `attempts` one higher. Concurrent claimers never get the same job.
    /// Returns them in the order taken (earliest due, then first enqueued).
    async fn claim_jobs(
        &self,
        kind: &str,
        concurrency: u32,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<Job>>;

    /// Moves a running job's lease to `lease_until` (a heartbeat for long
    /// jobs). Fenced: false, and nothing written, unless the job is still
    /// `running` under `claim`. A lease that ran out but was not claimed
    /// again is still held, so a worker should beat well within its lease:
    /// a claim meanwhile does not count the job among those running.
    async fn extend_job_lease(&self, job_id: i64, claim: i64, lease_until: Timestamp) -> StoreResult<bool>;

    /// Ends a claimed job's attempt. Fenced: false, and nothing written,
    /// unless the job is still `running` under `claim` (a lease that ran
    /// out still holds until another claim takes the job). Clears the
    /// unique key's hold when the job succeeds or dies; a retry keeps it
    /// and signals the job workers.
    async fn finish_job(&self, job_id: i64, claim: i64, outcome: JobOutcome, now: Timestamp) -> StoreResult<bool>;

    async fn get_job(&self, job_id: i64) -> StoreResult<Option<Job>>;

    /// The jobs (of one kind, when given) that work on `subject_id`, oldest
    /// first: how a subject finds the job that runs it. An empty `kind`
    /// means every kind.
    async fn jobs_for_subject(&self, kind: &str, subject_id: i64) -> StoreResult<Vec<Job>>;

    /// The earliest `due_at` among queued and running jobs of `kind`: when
    /// a worker of that kind should look again.
    async fn next_job_due_at(&self, kind: &str) -> StoreResult<Option<Timestamp>>;
}
