//! What the PostgreSQL test files share: a database of their own per test.
//!
//! Needs a server: `LOCKSTEP_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:55432/postgres`), which `scripts/test` sets
//! after starting a throwaway cluster. Each test creates its own database
//! `lockstep_test_<random>` on it, so tests run in parallel and never see
//! each other's rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let server = std::env::var("LOCKSTEP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LOCKSTEP_TEST_POSTGRES_URL is not set. Run `scripts/test` (it starts a throwaway \
             PostgreSQL cluster) or set it to a server URL such as \
             postgres://postgres@127.0.0.1:5432/postgres"
        )
    });
    let name = format!("lockstep_test_{}", unique_suffix());
    let mut admin = PgConnection::connect(&server).await.expect("connect to LOCKSTEP_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create the test database");
    admin.close().await.ok();

    url_with_database(&server, &name)
}

/// Unique across the tests of this run and across concurrent runs.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}_{}_{n}", nanos, std::process::id())
}

/// `postgres://u@h:p/db?opts` with `db` replaced by `database`.
fn url_with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}
