//! The rows of the job queue: background work of every kind (Sync Overview
//! runs, Sync Now runs, notification emails…) as durable rows.

use serde_json::Value;

use crate::Timestamp;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What the job does (`overview`, `sync_run`, `notification_email`…);
    /// workers claim by kind.
    pub kind: String,
    /// The tenant the job works for, when it works for one.
    pub tenant_id: Option<i64>,
    /// The row the job works on (an overview, a sync run, a notification).
    /// Methods that create that row in the same transaction set it.
    pub subject_id: Option<i64>,
    /// While a queued or running job holds this key, enqueueing another
    /// job with the same key enqueues nothing (the existing job is
    /// returned). A job with a subject that leaves this `None` gets
    /// `"{kind}:{subject_id}"` ([`NewJob::held_key`]), whether a method
    /// that creates the subject enqueues it or `enqueue_job` does.
    pub unique_key: Option<String>,
    /// Anything else the job needs; a JSON object (`{}` when nothing).
    pub payload: Value,
    /// When the job may start.
    pub due_at: Timestamp,
    /// How many claims the job gets before the worker gives it up.
    pub max_attempts: i32,
}

impl NewJob {
    /// A job of `kind` on `subject_id`, due at `due_at`, with the default
    /// of 5 attempts and an empty payload.
    pub fn new(kind: &str, tenant_id: Option<i64>, due_at: Timestamp) -> NewJob {
        NewJob {
            kind: kind.to_owned(),
            tenant_id,
            subject_id: None,
            unique_key: None,
            payload: Value::Object(Default::default()),
            due_at,
            max_attempts: 5,
        }
    }

    /// The key this job holds while it is queued or running: its
    /// `unique_key`, or `"{kind}:{subject_id}"` when only a subject is set
    /// (one unfinished job of a kind per subject), or none.
    pub fn held_key(&self) -> Option<String> {
        self.unique_key.clone().or_else(|| self.subject_id.map(|subject| format!("{}:{subject}", self.kind)))
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for its due time (first run, or a retry).
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// Done.
    Succeeded,
    /// Given up: its attempts ran out, or it failed for good.
    Dead,
}

impl JobStatus {
    /// The storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Dead => "dead",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "dead" => JobStatus::Dead,
            _ => return None,
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub tenant_id: Option<i64>,
    pub subject_id: Option<i64>,
    pub unique_key: Option<String>,
    pub payload: Value,
    pub status: JobStatus,
    /// Queued: when it may start. Running: when its lease ends. Otherwise none.
    pub due_at: Option<Timestamp>,
    /// Claims made so far (the current one included).
    pub attempts: i32,
    pub max_attempts: i32,
    /// Fencing token: grows with every claim; finishes name it.
    pub claim: i64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// How a claimed job's attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done: `succeeded`, never claimed again.
    Succeeded,
    /// Try again at `at`: back to `queued`, due then, `last_error` kept.
    Retry { at: Timestamp, error: String },
    /// Give up: `dead`, never claimed again, `last_error` kept.
    Dead { error: String },
}

/// What a finish writes to a job: the rule of [`JobOutcome`], stated once
/// for every backend to store.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedJob<'a> {
    pub status: JobStatus,
    /// The retry's time; none once the job is over.
    pub due_at: Option<Timestamp>,
    /// The new `last_error`; `None` keeps the stored one (a success after
    /// failed attempts still tells what failed before).
    pub last_error: Option<&'a str>,
    /// Set when the job is over; a retry is not.
    pub finished_at: Option<Timestamp>,
}

impl JobOutcome {
    /// What finishing with this outcome at `now` writes.
    pub fn finished(&self, now: Timestamp) -> FinishedJob<'_> {
        match self {
            JobOutcome::Succeeded => {
                FinishedJob { status: JobStatus::Succeeded, due_at: None, last_error: None, finished_at: Some(now) }
            }
            JobOutcome::Retry { at, error } => {
                FinishedJob { status: JobStatus::Queued, due_at: Some(*at), last_error: Some(error), finished_at: None }
            }
            JobOutcome::Dead { error } => {
                FinishedJob { status: JobStatus::Dead, due_at: None, last_error: Some(error), finished_at: Some(now) }
            }
        }
    }
}
