//! The store conformance suite on PostgreSQL.
//!
//! Needs a server: `LOCKSTEP_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:55432/postgres`), which `scripts/test` sets
//! after starting a throwaway cluster. Each test creates its own database
//! `lockstep_test_<random>` on it, so tests run in parallel and never see
//! each other's rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lockstep_store::Store;
use lockstep_store_postgres::PgStore;
use sqlx::{Connection, PgConnection};

/// A fresh, migrated, empty store in a database of its own.
async fn fresh_store() -> Arc<dyn Store> {
    let store = PgStore::connect(&fresh_database().await).await.expect("connect to the test database");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

/// Creates an empty database and returns its URL.
async fn fresh_database() -> String {
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

lockstep_store::conformance_tests!(fresh_store());

/// Beyond the suite: the signal crosses processes. A second store on the same
/// database stands in for another Lockstep process; it hears the first
/// store's commit through LISTEN/NOTIFY, not through a shared `Notify`.
#[tokio::test]
async fn a_write_signals_work_to_other_processes_on_the_same_database() {
    use lockstep_store::conformance::TestPlanner;
    use lockstep_store::{NewAdmin, NewIntegration, RecordWrite};

    let url = fresh_database().await;
    let writer = PgStore::connect(&url).await.unwrap();
    writer.migrate().await.unwrap();
    let other = PgStore::connect(&url).await.unwrap();

    let now = chrono::Utc::now();
    let admin = NewAdmin { email: "a@acme.test".into(), name: "A".into(), token_hash: "00".repeat(32) };
    let (tenant, _) = writer.create_tenant("acme", admin, now).await.unwrap();
    let integration =
        NewIntegration { name: "Okta".into(), record_type: "employee".into(), spec: serde_json::json!({}) };
    let okta = writer.create_integration(tenant.id, integration, now).await.unwrap();

    let signal = other.work_signal();
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let planner = TestPlanner::pending(&[okta.id], now, now);
    let write =
        RecordWrite { external_id: "e1".into(), fields: Some(serde_json::json!({ "n": 1 })), expected_version: None };
    writer.write_records(tenant.id, "employee", vec![write], &planner, now).await.unwrap();
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), notified).await;
    assert!(heard.is_ok(), "the other store heard no work signal within 5 s");
}
