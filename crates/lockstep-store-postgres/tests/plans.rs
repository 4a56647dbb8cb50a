//! The store's statements probe by key even where PostgreSQL has no
//! statistics yet: a table loaded since its last ANALYZE (a new
//! installation's first import, before autovacuum comes round) must not turn
//! a batch of a thousand keys into a scan of every row.
//!
//! Without statistics PostgreSQL guesses that a key matches 1 row in 200, so
//! a thousand probes look dearer than one pass over the table, and it plans
//! a hash join over a sequential scan: on 300,000 sync states 30–100 ms
//! instead of 3–10, for every batch until the first ANALYZE. The test loads
//! such a table, turns autovacuum off for it, runs the store's batch-sized
//! operations through a store whose connections log every plan
//! (`auto_explain`, as notices the test reads back), and looks for scans.
//!
//! The same holds for a tenant that loaded its records since the last
//! ANALYZE while others are in the statistics: records asked for by id are
//! probed by id, not found by walking the tenant's key.

mod support;

use std::sync::{Arc, Mutex};

use lockstep_store::conformance::support::{at, finish, integration, put, tenant, EMPLOYEE};
use lockstep_store::conformance::TestPlanner;
use lockstep_store::{RunClaim, Store, SyncOutcome};
use lockstep_store_postgres::PgStore;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Records and, per integration, sync states loaded before the test.
const LOADED: i64 = 100_000;

#[tokio::test]
async fn batches_probe_by_key_on_tables_without_statistics() {
    let (url, setup) = migrated().await;
    let (tenant, _) = tenant(&setup, "acme").await;
    let mut integrations = Vec::new();
    for name in ["Okta", "Payroll", "Directory"] {
        integrations.push(integration(&setup, tenant.id, name).await);
    }
    load_without_statistics(&url, tenant.id, &integrations).await;

    let plans = Plans::default();
    let _capture = tracing::subscriber::set_default(tracing_subscriber::registry().with(plans.clone()));
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&explaining(&url)).await.unwrap());
    let keys = |from: i64, n: i64| (from..from + n).map(|i| format!("e{i:07}")).collect::<Vec<_>>();
    let changed = TestPlanner::pending(&integrations, at(10), at(10));

    // A batch of relevant changes to synced records (the locking path)…
    let writes: Vec<_> = keys(1, 1_000).iter().map(|key| put(key, json!({ "n": 1 }))).collect();
    let written = store.write_records(tenant.id, EMPLOYEE, &writes, &changed, at(10)).await.unwrap();
    // …and the largest that reads first, then writes (read-then-write).
    let writes: Vec<_> = keys(5_001, 64).iter().map(|key| put(key, json!({ "n": 1 }))).collect();
    store.write_records(tenant.id, EMPLOYEE, &writes, &changed, at(10)).await.unwrap();
    // A page of records with their states, and one record's.
    let ids: Vec<i64> = written.iter().map(|w| w.record.id).collect();
    assert_eq!(store.sync_states_for_records(tenant.id, &ids).await.unwrap().len(), 3_000);
    assert_eq!(store.sync_states_for_records(tenant.id, &ids[..1]).await.unwrap().len(), 3);
    // The workers: claim the due syncs, finish them.
    let claimed = store.claim_due_syncs(at(10), at(70), 3_000).await.unwrap();
    assert_eq!(claimed.len(), 3_000);
    let finishes = claimed.iter().map(|c| finish(&c.state, SyncOutcome::Synced { remote_id: None }, at(20)));
    let applied = store.finish_syncs(finishes.collect()).await.unwrap();
    assert!(applied.iter().all(|a| *a));

    let plans = plans.0.lock().unwrap();
    assert!(plans.len() >= 5, "auto_explain logged no plans: {plans:?}");
    let scans: Vec<&String> = plans
        .iter()
        .filter(|plan| plan.contains("Seq Scan on records") || plan.contains("Seq Scan on sync_states"))
        .collect();
    assert!(
        scans.is_empty(),
        "{} statements scanned a table instead of probing keys:\n{}",
        scans.len(),
        scans.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
    );
}

/// Records of the tenant that was analysed, and of the one loaded since.
const PER_TENANT: i64 = 20_000;

/// A tenant that loaded its records after the last ANALYZE is absent from
/// the statistics, so PostgreSQL estimates that it has one record: probing
/// the unique key (tenant, type, external id) by the tenant alone then
/// looks as cheap as probing the primary key, and was chosen, walking every
/// record of the tenant for each record asked for by id (60 ms an id at
/// 100,000). A Sync Now claims its records by id, and a retry locks its
/// record by id: neither may use the tenant's key.
#[tokio::test]
async fn records_asked_for_by_id_are_probed_by_id_for_a_tenant_the_statistics_have_not_seen() {
    let (url, setup) = migrated().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE records SET (autovacuum_enabled = false)").execute(&mut conn).await.unwrap();
    let (seen, _) = tenant(&setup, "seen").await;
    load_records(&mut conn, seen.id, PER_TENANT).await;
    sqlx::query("ANALYZE records").execute(&mut conn).await.unwrap();
    let (unseen, _) = tenant(&setup, "unseen").await;
    let okta = integration(&setup, unseen.id, "Okta").await;
    load_records(&mut conn, unseen.id, PER_TENANT).await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM records WHERE tenant_id = $1 ORDER BY external_id DESC LIMIT 16")
            .bind(unseen.id)
            .fetch_all(&mut conn)
            .await
            .unwrap();

    let plans = Plans::default();
    let _capture = tracing::subscriber::set_default(tracing_subscriber::registry().with(plans.clone()));
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&explaining(&url)).await.unwrap());
    let claims = store.claim_syncs_for_run(unseen.id, okta, &ids, at(10), at(70)).await.unwrap();
    assert!(claims.iter().all(|c| matches!(c, RunClaim::Claimed(_))), "every record claimed: {claims:?}");
    store.retry_failed(unseen.id, ids[0], None, at(20)).await.unwrap();

    let plans = plans.0.lock().unwrap();
    assert!(plans.iter().any(|plan| plan.contains("records_pkey")), "no plan probed records: {plans:?}");
    let by_tenant: Vec<&String> = plans.iter().filter(|plan| plan.contains("records_external_id_key")).collect();
    assert!(
        by_tenant.is_empty(),
        "{} statements walked the tenant's records instead of probing ids:\n{}",
        by_tenant.len(),
        by_tenant.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
    );
}

/// A fresh database, migrated, and a store on it.
async fn migrated() -> (String, Arc<dyn Store>) {
    let url = support::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    (url, store)
}

/// `n` employees of `tenant_id`, inserted in SQL.
async fn load_records(conn: &mut PgConnection, tenant_id: i64, n: i64) {
    sqlx::query(
        "INSERT INTO records (tenant_id, record_type, external_id, fields, version, created_at, updated_at)
         SELECT $1, $2, 'e' || lpad(n::text, 7, '0'), jsonb_build_object('n', 0), 1, $3, $3
         FROM generate_series(1, $4) AS n",
    )
    .bind(tenant_id)
    .bind(EMPLOYEE)
    .bind(at(0))
    .bind(n)
    .execute(conn)
    .await
    .unwrap();
}

/// Loads [`LOADED`] synced employees with a state per integration, in SQL,
/// with autovacuum off for both tables: they have no statistics.
async fn load_without_statistics(url: &str, tenant_id: i64, integrations: &[i64]) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    for table in ["records", "sync_states"] {
        sqlx::query(&format!("ALTER TABLE {table} SET (autovacuum_enabled = false)")).execute(&mut conn).await.unwrap();
    }
    load_records(&mut conn, tenant_id, LOADED).await;
    sqlx::query(
        "INSERT INTO sync_states (record_id, integration_id, tenant_id, status, claim, last_synced_at, updated_at)
         SELECT r.id, i, $1, 'synced', 1, $2, $2 FROM records AS r CROSS JOIN UNNEST($3::bigint[]) AS i",
    )
    .bind(tenant_id)
    .bind(at(0))
    .bind(integrations)
    .execute(&mut conn)
    .await
    .unwrap();
    let analysed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('records', 'sync_states') AND reltuples >= 0",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(analysed, 0, "the loaded tables must have no statistics");
}

/// `url` with every statement's plan sent to the client as a notice.
fn explaining(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}options[session_preload_libraries]=auto_explain\
         &options[auto_explain.log_min_duration]=0&options[auto_explain.log_level]=notice"
    )
}

/// The plans `auto_explain` sent: sqlx reports each notice as a tracing
/// event with the target `sqlx::postgres::notice`.
#[derive(Clone, Default)]
struct Plans(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Plans {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::postgres::notice" {
            return;
        }
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.contains("plan:") {
            self.0.lock().unwrap().push(message.0);
        }
    }
}
