//! The counts of sync states per status, read from the deltas that the
//! triggers of migration 0009 append, and folded so the deltas stay few.
//!
//! Every statement that changes statuses appends one row of per-status
//! deltas in its own transaction; the counts are the sum of every row. No
//! writer ever updates a shared row, so counting adds no lock that
//! concurrent writers could queue on: appends to a heap without an index
//! do not wait for each other.
//!
//! **Folding.** The rows grow by one per status-changing statement, so
//! now and then they are folded into one:
//!
//! ```sql
//! WITH folded AS (DELETE FROM sync_status_deltas RETURNING …)
//! INSERT INTO sync_status_deltas SELECT sum(…) FROM folded
//! ```
//!
//! One statement, so it commits the delete and the sum together: a reader
//! sees the rows before the fold or after it, and the sum is the same.
//! Rows committed after the fold's snapshot are not deleted, and the sum of
//! rows not yet committed is not taken: they stay beside the folded row. Two
//! folds at once would also be correct (the second skips the rows the first
//! deleted), but the second would wait for the first, so a fold runs only
//! under a transaction-level advisory lock it can take at once, and skips
//! otherwise.
//!
//! A scrape folds when it finds many rows, and every store folds in the
//! background every [`FOLD_EVERY`], so the rows stay few even where nothing
//! scrapes.

use std::time::Duration;

use lockstep_store::{StoreResult, SyncStatus};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::db_error;

/// The advisory lock a fold holds ("lsCounts" as a big-endian integer).
const FOLD_LOCK: i64 = 0x6c73_436f_756e_7473;
/// A scrape that finds more rows than this folds them.
const FOLD_ABOVE: i64 = 1_000;
/// How often each store folds in the background.
pub(crate) const FOLD_EVERY: Duration = Duration::from_secs(60);

/// The counts per status: the sums of every committed delta. Folds them
/// when there are many.
pub(crate) async fn read(pool: &PgPool) -> StoreResult<Vec<(SyncStatus, i64)>> {
    let (pending, syncing, synced, failed, rows): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(pending), 0)::bigint, coalesce(sum(syncing), 0)::bigint,
                coalesce(sum(synced), 0)::bigint, coalesce(sum(failed), 0)::bigint, count(*)
         FROM sync_status_deltas",
    )
    .fetch_one(pool)
    .await
    .map_err(db_error)?;
    if rows > FOLD_ABOVE {
        fold(pool).await?;
    }
    Ok(vec![
        (SyncStatus::Pending, pending),
        (SyncStatus::Syncing, syncing),
        (SyncStatus::Synced, synced),
        (SyncStatus::Failed, failed),
    ])
}

/// Folds every committed delta into one row, unless another fold is
/// running. Returns whether this one ran.
pub(crate) async fn fold(pool: &PgPool) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(FOLD_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    if locked {
        sqlx::query(
            "WITH folded AS (DELETE FROM sync_status_deltas RETURNING pending, syncing, synced, failed)
             INSERT INTO sync_status_deltas (pending, syncing, synced, failed)
             SELECT sum(pending), sum(syncing), sum(synced), sum(failed) FROM folded
             HAVING (sum(pending), sum(syncing), sum(synced), sum(failed)) <> (0, 0, 0, 0)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(locked)
}

/// The background fold; stopped when dropped.
pub(crate) struct Folder {
    task: JoinHandle<()>,
}

impl Folder {
    pub(crate) fn start(pool: PgPool) -> Folder {
        Folder {
            task: tokio::spawn(async move {
                let mut every = tokio::time::interval(FOLD_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(error) = fold(&pool).await {
                        tracing::warn!(%error, "could not fold the sync status counts; trying again later");
                    }
                }
            }),
        }
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
