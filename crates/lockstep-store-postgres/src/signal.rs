//! The signals: wake idle workers when a commit may have created due work.
//!
//! Two signals, so that one kind of worker does not wake the other: the
//! work signal (due syncs, [`lockstep_store::SyncQueue::work_signal`]) and
//! the job signal (enqueued or re-queued jobs,
//! [`lockstep_store::JobQueue::job_signal`]). Within a process the store
//! calls `notify_waiters` on the signal's [`Notify`] after such a commit.
//! Across processes, the same transaction runs `pg_notify` on the signal's
//! channel: PostgreSQL delivers it only if the transaction commits, and
//! only after, so a woken worker always finds the work. Each store keeps
//! one dedicated LISTEN connection for both channels (outside the pool,
//! which would otherwise lose a slot for good) in a background task that
//! turns every notification into `notify_waiters` on its channel's signal.
//!
//! Notifications are lossy by nature (a dropped connection loses those sent
//! meanwhile), so every reconnect also wakes the waiters of both: a
//! spurious wake-up costs one empty claim, a lost one could leave work
//! sleeping until the worker's next timer.

use std::sync::Arc;
use std::time::Duration;

use lockstep_store::StoreResult;
use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::db_error;

/// The channel of the work signal (due syncs).
pub(crate) const CHANNEL: &str = "lockstep_work";

/// The channel of the job signal (enqueued or re-queued jobs).
pub(crate) const JOB_CHANNEL: &str = "lockstep_jobs";

/// Queues the cross-process work signal in the caller's transaction; delivered on commit.
pub(crate) async fn notify_on_commit(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await.map(|_| ())
}

/// Queues the cross-process job signal in the caller's transaction; delivered on commit.
pub(crate) async fn notify_jobs_on_commit(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(JOB_CHANNEL).execute(conn).await.map(|_| ())
}

/// The local waiters of each channel.
#[derive(Clone)]
pub(crate) struct Signals {
    pub(crate) work: Arc<Notify>,
    pub(crate) jobs: Arc<Notify>,
}

impl Signals {
    fn wake_all(&self) {
        self.work.notify_waiters();
        self.jobs.notify_waiters();
    }
}

/// The LISTEN task; stopped when dropped.
pub(crate) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    /// Connects and LISTENs before returning, so a store is never deaf to
    /// signals sent after `connect` returned.
    pub(crate) async fn start(url: &str, signals: Signals) -> StoreResult<Listener> {
        let mut listener = PgListener::connect(url).await.map_err(db_error)?;
        listener.listen_all([CHANNEL, JOB_CHANNEL]).await.map_err(db_error)?;
        Ok(Listener { task: tokio::spawn(relay(listener, signals)) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays notifications to local waiters until aborted. `try_recv`
/// reconnects and re-LISTENs by itself; we only pace retries on errors.
async fn relay(mut listener: PgListener, signals: Signals) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) if notification.channel() == JOB_CHANNEL => signals.jobs.notify_waiters(),
            Ok(Some(_)) => signals.work.notify_waiters(),
            Ok(None) => {
                tracing::warn!("signal connection lost; reconnected");
                signals.wake_all();
            }
            Err(error) => {
                tracing::warn!(%error, "signal listener failed; retrying in 1 s");
                signals.wake_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
