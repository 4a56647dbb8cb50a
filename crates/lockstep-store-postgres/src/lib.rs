//! Lockstep's scale-out store: PostgreSQL, shared by any number of processes.
//!
//! [`PgStore`] implements [`Store`] over one connection pool. Nothing is kept
//! in memory between calls but the signals, so every process on the same
//! database sees the same tenants, records and sync states; the scheduler's
//! claims use `FOR UPDATE SKIP LOCKED`, so concurrent workers share the queue
//! without ever taking the same sync twice.
//!
//! The code is split by what it stores: [`tenants`] (tenants and admins),
//! [`integrations`], [`records`] (the batched, all-or-nothing record write),
//! [`search`] (the console's record search),
//! [`sync_states`] (reads, retries and metrics of the scheduler's rows),
//! [`claims`] (claiming and finishing syncs), [`status_counts`] (the counts
//! per status, kept as deltas), [`jobs`] (the job queue) and [`signal`]
//! (LISTEN/NOTIFY behind [`Store::work_signal`] and [`Store::job_signal`]);
//! the operations an admin starts are in [`overviews`] (Sync Overviews),
//! [`sync_runs`] (Sync Now runs and their logs) and [`run_claims`] (the sync
//! states a run claims and finishes); the admin console's sign-in links and
//! sessions in [`console`].
//! The schema is in `migrations/`.
//!
//! **Lock order.** A statement or transaction that locks several rows takes
//! records before states, records in key order and states in
//! `(record_id, integration_id)` order: a record write (records.rs,
//! write_changes.rs), a finish (claims.rs), a Sync Now claim
//! (run_claims.rs), an integration's removal (integrations.rs). Two of them
//! then wait for each other in a line, never in a cycle; PostgreSQL would
//! otherwise abort one as a deadlock, and a finish that fails so leaves its
//! sync to be done again once the lease ends. Claims take no part: they
//! skip locked rows instead of waiting (`SKIP LOCKED`).
//!
//! Hot paths send many rows per statement (`UNNEST` of arrays), never one
//! round trip per row (BENCHMARKS.md). Timestamps are truncated to
//! milliseconds on the way in, the precision the store contract promises and
//! SQLite keeps, so both backends hand back the same values.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::SubsecRound;
use lockstep_store::{Store, StoreError, StoreResult, Timestamp};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::Notify;

mod claims;
mod console;
mod debounce;
mod integrations;
mod jobs;
mod notifications;
mod optimistic;
mod overviews;
mod records;
mod run_claims;
mod search;
mod signal;
mod slots;
mod status_counts;
mod sync_queue;
mod sync_runs;
mod sync_states;
mod tenants;
mod write_changes;

/// How long a pooled connection may sit idle before it is checked with a
/// ping before use.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(5);

/// The embedded migrations, applied by [`Store::migrate`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    /// Wakes the sync workers (the sync queue's work signal).
    signal: Arc<Notify>,
    /// Wakes the job workers ([`lockstep_store::JobQueue::job_signal`]).
    job_signal: Arc<Notify>,
    // Held for their Drop: stop the LISTEN task and the background fold of
    // the status counts with the store.
    _listener: signal::Listener,
    _folder: status_counts::Folder,
}

impl PgStore {
    /// Connects a pool to `url` (`postgres://user@host:port/db`) and starts
    /// listening for work and job signals from other processes. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        // sqlx prepares and caches every statement, and PostgreSQL may then
        // plan it once, without the parameters (a generic plan). An earlier
        // lock of a batch's records by `external_id = ANY($3)` got a generic
        // plan that scanned the whole table while a bulk load outgrew the
        // statistics, so every statement used to be planned afresh
        // (`force_custom_plan`). The statements are now written as index
        // probes that no estimate turns into scans (records.rs), and
        // planning afresh cost a single write about a sixth of its time: one
        // at a time 482–510 writes/s with custom plans, 569–626/s with
        // PostgreSQL's default, and no slower batches on a 100,000-record
        // load (BENCHMARKS.md). `auto` is the default; it is named here so
        // that a server configured otherwise does not change our plans.
        //
        // JIT is off: every statement here touches a handful of rows per
        // key, where compiling costs more than it saves. It only kicks in on
        // estimates inflated by missing statistics (a table just loaded, not
        // yet analysed), and then adds ~75 ms to a statement that takes 11.
        let options =
            PgConnectOptions::from_str(url).map_err(db_error)?.options([("plan_cache_mode", "auto"), ("jit", "off")]);
        // sqlx pings every idle connection before lending it out, a round
        // trip per query on a busy pool. A connection that has just been
        // returned is alive; only one idle for a while (where a restart or a
        // dropped network path hides) is pinged before use.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        let signals = signal::Signals { work: Arc::new(Notify::new()), jobs: Arc::new(Notify::new()) };
        let listener = signal::Listener::start(url, signals.clone()).await?;
        let folder = status_counts::Folder::start(pool.clone());
        Ok(PgStore { pool, signal: signals.work, job_signal: signals.jobs, _listener: listener, _folder: folder })
    }

    /// Folds the status counts' deltas into one row now (every store also
    /// does so in the background), unless another process is folding them.
    /// Returns whether this call folded.
    pub async fn fold_sync_status_counts(&self) -> StoreResult<bool> {
        status_counts::fold(&self.pool).await
    }
}

/// Maps a driver error into the store's terms: unique violations are
/// `Conflict` (named by their constraint), data exceptions `Refused`,
/// anything else `Database`.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.constraint().unwrap_or("unique").to_string());
        }
        // Class 22, data exception: the value itself is refused (a NUL in
        // text or JSON, a number out of range), so trying again cannot help.
        if db.code().is_some_and(|code| code.starts_with("22")) {
            return StoreError::Refused(db.message().to_owned());
        }
    }
    StoreError::Database(error.to_string())
}

/// A column that does not decode is a corrupt row, not a database outage.
pub(crate) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// Truncates to the millisecond, the precision the store keeps.
pub(crate) fn ms(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(3)
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Database(e.to_string()))
    }
}
