//! Lockstep's embedded store: SQLite in WAL mode, one file.
//!
//! SQLite allows one writer at a time, so the store keeps exactly one write
//! connection behind a mutex and a small pool of read connections (WAL lets
//! readers run beside the writer). Every write is a transaction begun
//! `IMMEDIATE`, which takes the write lock up front: a record write reads
//! the previous version and its sync states, and decides, inside the same
//! lock, so no claim or other write can slip in between. Commits are
//! `synchronous = FULL`: a write is on disk before it is acknowledged.
//!
//! rusqlite is synchronous; calls run on a blocking-capable thread (see
//! [`blocking`]). Batching many rows into one transaction, not one round
//! trip per row, is what makes the batch endpoint fast (BENCHMARKS.md).

mod codec;
mod console;
mod integrations;
mod jobs;
mod migrations;
mod notifications;
mod overviews;
mod records;
mod run_claims;
mod search;
mod sync_queue;
mod sync_runs;
mod tenants;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lockstep_store::{Store, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Notify;

/// The embedded SQLite store.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: String,
    /// Wakes the sync workers (the sync queue's work signal).
    signal: Arc<Notify>,
    /// Wakes the job workers ([`lockstep_store::JobQueue::job_signal`]).
    job_signal: Arc<Notify>,
}

/// The write connection's page cache: the pages a batch of writes touches
/// (records, their indexes, sync states) stay in it between transactions.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// Each read connection's page cache (there are up to [`MAX_READERS`]):
/// room for every interior page of a large database's b-trees, so a look-up
/// reads only its leaves. Small on purpose: in WAL mode a reader drops its
/// whole cache whenever the database changed since its last read, so on a
/// store being written to, a reader's cache rarely outlives a few queries;
/// and a query that reads a large share of a big database (a Sync
/// Overview's look-ups: a million records in random order) leaves the
/// reader it ran on holding its whole cache. At 64 MB like the writer's, an
/// overview of a million users peaked at 450–670 MB of RSS; at 8 MB, 180–220
/// MB, equally fast.
const READER_CACHE_KIB: u32 = 8 * 1024;
/// Read connections kept open.
const MAX_READERS: usize = 8;

/// Runs blocking database work. On a multi-threaded runtime the worker
/// thread is handed over with `block_in_place` so other tasks keep running;
/// on a current-thread runtime (unit tests) it runs inline. Unlike
/// `spawn_blocking`, this lets the closure borrow (the planner is a borrow).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub(crate) fn db_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(e, message) = &error {
        if e.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Conflict(message.clone().unwrap_or_else(|| error.to_string()));
        }
        if matches!(e.code, rusqlite::ErrorCode::TooBig | rusqlite::ErrorCode::TypeMismatch) {
            return StoreError::Refused(message.clone().unwrap_or_else(|| error.to_string()));
        }
    }
    StoreError::Database(error.to_string())
}

fn open_connection(path: &str, cache_kib: u32) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db_error)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(db_error)?;
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib)).map_err(db_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &str) -> StoreResult<Self> {
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(format!("creating {}: {e}", parent.display())))?;
        }
        let writer = blocking(|| open_connection(path, WRITER_CACHE_KIB))?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            path: path.to_owned(),
            signal: Arc::new(Notify::new()),
            job_signal: Arc::new(Notify::new()),
        })
    }

    /// Runs `f` with the write connection.
    fn write<R>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<R>) -> StoreResult<R> {
        blocking(|| {
            let mut conn =
                self.writer.lock().map_err(|_| StoreError::Database("the write connection was poisoned".into()))?;
            f(&mut conn)
        })
    }

    /// Runs `f` with a read connection from the pool (opening one if none is idle).
    fn read<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        blocking(|| {
            let idle = self.readers.lock().ok().and_then(|mut pool| pool.pop());
            let conn = match idle {
                Some(conn) => conn,
                None => open_connection(&self.path, READER_CACHE_KIB)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = self.readers.lock() {
                if pool.len() < MAX_READERS {
                    pool.push(conn);
                }
            }
            result
        })
    }

    fn wake_workers(&self) {
        self.signal.notify_waiters();
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.write(migrations::apply)
    }
}
