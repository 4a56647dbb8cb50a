//! The job worker: runs the durable background jobs (overview runs, Sync
//! Now runs, notification emails) of every kind a [`JobHandler`] is
//! registered for.
//!
//! Each kind has its own loop: claim up to the kind's concurrency (the
//! store keeps that limit across processes), run each claimed job with a
//! heartbeat that renews its lease every third of it, and finish it fenced
//! by its claim. A job whose heartbeat finds the claim gone (its lease ran
//! out while the process was stalled, and another process took it over)
//! is dropped where it stands: the other process runs it. A process killed
//! mid-job loses nothing: the lease runs out and the job is claimed again.
//!
//! Failures are the handler's to classify: [`JobResult::Retry`] comes back
//! after a backoff that doubles per attempt (2 s, 4 s, … capped at 10
//! minutes, with jitter); a job claimed beyond its `max_attempts` is not
//! run again but handed to [`JobHandler::give_up`], which records the
//! failure on the job's subject, and then dies. Tests drive
//! [`JobWorker::run_once`] and [`JobWorker::drain`] instead of the loops.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lockstep_store::{Job, JobOutcome};
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::JobsConfig;
use crate::engine::Engine;

/// How one attempt of a job ended.
#[derive(Debug)]
pub enum JobResult {
    /// Done; the job succeeds.
    Done,
    /// A passing failure: try again after the backoff (or `after`, when
    /// the cause said how long to wait).
    Retry { error: String, after: Option<Duration> },
    /// A failure no retry mends: the job dies (the handler has recorded
    /// the failure on its subject already).
    Fail { error: String },
}

/// The work of one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The kind it runs (`JobQueue` claims by kind).
    fn kind(&self) -> &'static str;
    /// How many jobs of the kind may run at once, across all processes.
    fn concurrency(&self) -> u32;
    /// Runs one attempt of `job`.
    async fn run(&self, job: &Job) -> JobResult;
    /// The job was claimed beyond its attempts (or failed for good on its
    /// last one): record the failure on its subject. `error` says why.
    async fn give_up(&self, job: &Job, error: &str);
}

/// Runs the registered job handlers.
#[derive(Clone)]
pub struct JobWorker {
    engine: Engine,
    config: JobsConfig,
    handlers: Vec<Arc<dyn JobHandler>>,
}

impl JobWorker {
    pub fn new(engine: Engine, config: JobsConfig, handlers: Vec<Arc<dyn JobHandler>>) -> Self {
        Self { engine, config, handlers }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.config.lease_seconds)
    }

    /// Claims and runs, to the end, the due jobs of every kind once.
    /// Returns how many ran.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        for handler in &self.handlers {
            let jobs = self.claim(handler.as_ref(), handler.concurrency()).await?;
            ran += jobs.len();
            let mut running = JoinSet::new();
            for job in jobs {
                let (worker, handler) = (self.clone(), handler.clone());
                running.spawn(async move { worker.execute(handler, job).await });
            }
            while running.join_next().await.is_some() {}
        }
        Ok(ran)
    }

    /// Runs steps until no job is due (for tests and the demo).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            match self.run_once().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Runs every kind's loop until `shutdown` is cancelled, then lets the
    /// jobs in flight end.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut loops = JoinSet::new();
        for handler in self.handlers.clone() {
            let (worker, stop) = (self.clone(), shutdown.clone());
            loops.spawn(async move { worker.run_kind(handler, stop).await });
        }
        while loops.join_next().await.is_some() {}
    }

    async fn run_kind(&self, handler: Arc<dyn JobHandler>, shutdown: CancellationToken) {
        let signal = self.engine.store.job_signal();
        let idle = Duration::from_secs_f64(self.config.idle_poll_seconds);
        let concurrency = handler.concurrency().max(1) as usize;
        let mut running = JoinSet::new();
        while !shutdown.is_cancelled() {
            while running.try_join_next().is_some() {}
            // Register interest before looking, so a signal sent while the
            // claim runs is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let free = concurrency.saturating_sub(running.len());
            let wait = if free == 0 {
                idle
            } else {
                match self.claim(handler.as_ref(), free as u32).await {
                    Ok(jobs) if !jobs.is_empty() => {
                        for job in jobs {
                            let (worker, handler) = (self.clone(), handler.clone());
                            running.spawn(async move { worker.execute(handler, job).await });
                        }
                        continue;
                    }
                    Ok(_) => self.until_next_due(handler.kind(), idle).await,
                    Err(error) => {
                        tracing::error!(kind = handler.kind(), error = %format!("{error:#}"), "claiming jobs failed");
                        idle
                    }
                }
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn until_next_due(&self, kind: &str, idle: Duration) -> Duration {
        match self.engine.store.next_job_due_at(kind).await {
            Ok(Some(due)) => (due - self.engine.clock.now()).to_std().unwrap_or(Duration::from_millis(50)).min(idle),
            _ => idle,
        }
    }

    async fn claim(&self, handler: &dyn JobHandler, limit: u32) -> anyhow::Result<Vec<Job>> {
        let now = self.engine.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.lease())?;
        Ok(self.engine.store.claim_jobs(handler.kind(), handler.concurrency(), limit, now, lease_until).await?)
    }

    /// Runs one claimed job under its heartbeat and finishes it.
    async fn execute(&self, handler: Arc<dyn JobHandler>, job: Job) {
        let store = self.engine.store.clone();
        if job.attempts > job.max_attempts {
            let error = job.last_error.clone().unwrap_or_else(|| "the job's attempts ran out".to_owned());
            handler.give_up(&job, &error).await;
            let outcome = JobOutcome::Dead { error };
            self.finish(&job, outcome).await;
            return;
        }
        let heartbeat = async {
            let every = self.lease() / 3;
            loop {
                tokio::time::sleep(every).await;
                let until = self.engine.clock.now() + chrono::Duration::from_std(self.lease()).unwrap_or_default();
                match store.extend_job_lease(job.id, job.claim, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // A database hiccup: the lease still has two thirds left.
                    Err(error) => tracing::warn!(job = job.id, %error, "could not renew a job's lease"),
                }
            }
        };
        let result = tokio::select! {
            result = handler.run(&job) => result,
            _ = heartbeat => {
                tracing::warn!(job = job.id, kind = %job.kind, "a job lost its claim to another process; leaving it to that one");
                self.engine.metrics.job_attempt(&job.kind, "lost");
                return;
            }
        };
        let outcome = match result {
            JobResult::Done => JobOutcome::Succeeded,
            JobResult::Retry { error, .. } if job.attempts >= job.max_attempts => {
                handler.give_up(&job, &error).await;
                JobOutcome::Dead { error }
            }
            JobResult::Retry { error, after } => {
                let wait = after.unwrap_or_else(|| backoff(job.attempts));
                let at = self.engine.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::info!(job = job.id, kind = %job.kind, %error, retry_in = ?wait, "a job failed; it will be retried");
                JobOutcome::Retry { at, error }
            }
            JobResult::Fail { error } => JobOutcome::Dead { error },
        };
        self.finish(&job, outcome).await;
    }

    async fn finish(&self, job: &Job, outcome: JobOutcome) {
        let name = match &outcome {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::Dead { .. } => "dead",
        };
        self.engine.metrics.job_attempt(&job.kind, name);
        let now = self.engine.clock.now();
        match self.engine.store.finish_job(job.id, job.claim, outcome, now).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = job.id, "a job's finish was refused: another process holds it now"),
            Err(error) => {
                tracing::error!(job = job.id, %error, "could not record a job's end; it runs again after its lease")
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: 2 s doubling, at most 10
/// minutes, less up to a quarter at random so retries of many jobs spread.
fn backoff(attempts: i32) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1 << attempts.clamp(0, 16) as u32).min(Duration::from_secs(600));
    base.mul_f64(1.0 - rand::thread_rng().gen_range(0.0..0.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(backoff(1) <= Duration::from_secs(4) && backoff(1) >= Duration::from_secs(3));
        assert!(backoff(3) <= Duration::from_secs(16) && backoff(3) >= Duration::from_secs(12));
        assert!(backoff(30) <= Duration::from_secs(600));
    }
}
