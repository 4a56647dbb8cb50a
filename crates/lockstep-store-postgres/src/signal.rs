//! The work signal: wakes idle workers when a commit may have created due work.
//!
//! Within a process the store calls `notify_waiters` on its [`Notify`] after
//! such a commit. Across processes, the same transaction runs
//! `pg_notify('lockstep_work', '')`: PostgreSQL delivers it only if the
//! transaction commits, and only after, so a woken worker always finds the
//! work. Each store keeps one dedicated LISTEN connection (outside the pool,
//! which would otherwise lose a slot for good) in a background task that
//! turns every notification into `notify_waiters`.
//!
//! Notifications are lossy by nature (a dropped connection loses those sent
//! meanwhile), so every reconnect also wakes the waiters: a spurious wake-up
//! costs one empty claim, a lost one could leave work sleeping until the
//! worker's next timer.

use std::sync::Arc;
use std::time::Duration;

use lockstep_store::StoreResult;
use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::db_error;

/// The channel every Lockstep process LISTENs on.
pub(crate) const CHANNEL: &str = "lockstep_work";

/// Queues the cross-process signal in the caller's transaction; delivered on commit.
pub(crate) async fn notify_on_commit(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await.map(|_| ())
}

/// The LISTEN task; stopped when dropped.
pub(crate) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    /// Connects and LISTENs before returning, so a store is never deaf to
    /// signals sent after `connect` returned.
    pub(crate) async fn start(url: &str, signal: Arc<Notify>) -> StoreResult<Listener> {
        let mut listener = PgListener::connect(url).await.map_err(db_error)?;
        listener.listen(CHANNEL).await.map_err(db_error)?;
        Ok(Listener { task: tokio::spawn(relay(listener, signal)) })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays notifications to local waiters until aborted. `try_recv`
/// reconnects and re-LISTENs by itself; we only pace retries on errors.
async fn relay(mut listener: PgListener, signal: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => signal.notify_waiters(),
            Ok(None) => {
                tracing::warn!("work signal connection lost; reconnected");
                signal.notify_waiters();
            }
            Err(error) => {
                tracing::warn!(%error, "work signal listener failed; retrying in 1 s");
                signal.notify_waiters();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
