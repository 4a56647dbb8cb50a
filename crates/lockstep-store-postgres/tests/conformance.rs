//! The store conformance suite on PostgreSQL, and what only PostgreSQL
//! has: other processes on the same database. Each test gets a database of
//! its own (support/mod.rs).

mod support;

use std::sync::Arc;

use lockstep_store::Store;
use lockstep_store_postgres::PgStore;
use sqlx::{Connection, PgConnection};
use support::fresh_database;

/// A fresh, migrated, empty store in a database of its own.
async fn fresh_store() -> Arc<dyn Store> {
    let store = PgStore::connect(&fresh_database().await).await.expect("connect to the test database");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

lockstep_store::conformance_tests!(fresh_store());

/// Beyond the suite: the signal crosses processes. A second store on the same
/// database stands in for another Lockstep process; it hears the first
/// store's commit through LISTEN/NOTIFY, not through a shared `Notify`.
#[tokio::test]
async fn a_write_signals_work_to_other_processes_on_the_same_database() {
    use lockstep_store::conformance::TestPlanner;
    use lockstep_store::{
        IntegrationStore, NewAdmin, NewIntegration, RecordStore, RecordWrite, SyncQueue, TenantStore,
    };

    let url = fresh_database().await;
    let writer = PgStore::connect(&url).await.unwrap();
    writer.migrate().await.unwrap();
    let other = PgStore::connect(&url).await.unwrap();

    let now = chrono::Utc::now();
    let admin = NewAdmin {
        email: "a@acme.test".into(),
        name: "A".into(),
        token: lockstep_store::conformance::support::new_token("00"),
    };
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
    writer.write_records(tenant.id, "employee", &[write], &planner, now).await.unwrap();
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), notified).await;
    assert!(heard.is_ok(), "the other store heard no work signal within 5 s");
}

/// Beyond the suite: the job signal crosses processes too, on its own
/// channel. A second store on the same database hears the first store's
/// enqueue through LISTEN/NOTIFY.
#[tokio::test]
async fn an_enqueue_signals_job_workers_in_other_processes_on_the_same_database() {
    use lockstep_store::{JobQueue, NewJob};

    let url = fresh_database().await;
    let enqueuer = PgStore::connect(&url).await.unwrap();
    enqueuer.migrate().await.unwrap();
    let other = PgStore::connect(&url).await.unwrap();

    let signal = other.job_signal();
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let now = chrono::Utc::now();
    let (_, enqueued) = enqueuer.enqueue_job(NewJob::new("overview", None, now), now).await.unwrap();
    assert!(enqueued);
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), notified).await;
    assert!(heard.is_ok(), "the other store heard no job signal within 5 s");
}

/// Beyond the suite: only a write that makes a sync due sooner notifies.
/// Workers sleep until the earliest due time they have read, so a debounce
/// (a due time moved later) needs no NOTIFY, and sending one per write would
/// cost every listening process. PostgreSQL delivers notifications in commit
/// order, so a marker sent after a write arrives first exactly when the
/// write sent none.
#[tokio::test]
async fn only_a_write_that_makes_a_sync_due_sooner_notifies_other_processes() {
    use lockstep_store::conformance::TestPlanner;
    use lockstep_store::{IntegrationStore, NewAdmin, NewIntegration, RecordStore, RecordWrite, TenantStore};
    use sqlx::postgres::PgListener;

    let url = fresh_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap();
    let admin = NewAdmin {
        email: "a@acme.test".into(),
        name: "A".into(),
        token: lockstep_store::conformance::support::new_token("00"),
    };
    let (tenant, _) = store.create_tenant("acme", admin, at(0)).await.unwrap();
    let integration =
        NewIntegration { name: "Okta".into(), record_type: "employee".into(), spec: serde_json::json!({}) };
    let okta = store.create_integration(tenant.id, integration, at(0)).await.unwrap();
    // `size` records, keyed by their size so each size has fresh keys.
    let batch = |n: i64, size: usize| -> Vec<RecordWrite> {
        (0..size)
            .map(|i| RecordWrite {
                external_id: format!("s{size}-{i:03}"),
                fields: Some(serde_json::json!({ "n": n })),
                expected_version: None,
            })
            .collect()
    };

    let mut listener = PgListener::connect(&url).await.unwrap();
    listener.listen("lockstep_work").await.unwrap();
    let mut marker = PgConnection::connect(&url).await.unwrap();
    let mut next_is_marker = async |label: &str| -> bool {
        sqlx::query("SELECT pg_notify('lockstep_work', $1)").bind(label).execute(&mut marker).await.unwrap();
        let first = listener.recv().await.unwrap();
        let heard_write = first.payload() != label;
        if heard_write {
            // Drain the marker that followed the write's notification.
            assert_eq!(listener.recv().await.unwrap().payload(), label);
        }
        !heard_write
    };

    // Both paths: one record (read-then-write) and 100 (locking).
    for size in [1, 100] {
        let created = TestPlanner::pending(&[okta.id], at(0), at(300));
        store.write_records(tenant.id, "employee", &batch(1, size), &created, at(0)).await.unwrap();
        assert!(!next_is_marker("create").await, "{size}: new pending syncs wake the workers");

        let debounced = TestPlanner::pending(&[okta.id], at(10), at(310));
        store.write_records(tenant.id, "employee", &batch(2, size), &debounced, at(10)).await.unwrap();
        assert!(next_is_marker("debounce").await, "{size}: a due time moved later wakes no one");

        let sooner = TestPlanner::pending(&[okta.id], at(20), at(200));
        store.write_records(tenant.id, "employee", &batch(3, size), &sooner, at(20)).await.unwrap();
        assert!(!next_is_marker("sooner").await, "{size}: a due time moved earlier wakes the workers");

        let unmapped = TestPlanner::quiet();
        store.write_records(tenant.id, "employee", &batch(4, size), &unmapped, at(30)).await.unwrap();
        assert!(next_is_marker("unmapped").await, "{size}: no sync planned, no signal");
    }
}

/// Beyond the suite: a small write reads without locks and stores only if
/// what it read is unchanged (records.rs). These cases change the rows
/// between the read and the store, from another store on the same database
/// (another process), and check that the write is then stored as if it had
/// come after that change: nothing overwritten, nothing lost, nothing twice.
/// A large batch, which holds its rows locked, is checked the same way.
mod stale_reads {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Utc};
    use lockstep_store::conformance::TestPlanner;
    use lockstep_store::{
        IntegrationStore, NewAdmin, NewIntegration, PlannedWrite, Record, RecordStore, RecordWrite, Store, SyncPlanner,
        SyncQueue, SyncState, SyncStatus, TenantStore,
    };
    use lockstep_store_postgres::PgStore;
    use serde_json::{json, Value};

    type Interference = Box<dyn FnOnce(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

    /// A planner that, the first time it is asked, first waits for
    /// `interfere` to run against a second store on the same database, on a
    /// thread and runtime of its own. The write asking has read its rows by
    /// then and holds no locks, so the interference commits in between.
    struct Interfering {
        inner: TestPlanner,
        url: String,
        interfere: Mutex<Option<Interference>>,
    }

    impl SyncPlanner for Interfering {
        fn plan(&self, previous: Option<&Record>, next: Option<&Value>, states: &[SyncState]) -> PlannedWrite {
            if let Some(interfere) = self.interfere.lock().unwrap().take() {
                let url = self.url.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    runtime.block_on(async move {
                        let other = PgStore::connect(&url).await.expect("connect the other store");
                        interfere(Arc::new(other)).await;
                    });
                })
                .join()
                .expect("the interfering change committed");
            }
            self.inner.plan(previous, next, states)
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
    }

    fn put(external_id: &str, fields: Value) -> RecordWrite {
        RecordWrite { external_id: external_id.into(), fields: Some(fields), expected_version: None }
    }

    /// A migrated store on a fresh database, its URL, a tenant and one integration.
    async fn setup() -> (PgStore, String, i64, i64) {
        let url = super::fresh_database().await;
        let store = PgStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let admin = NewAdmin {
            email: "a@acme.test".into(),
            name: "A".into(),
            token: lockstep_store::conformance::support::new_token("11"),
        };
        let (tenant, _) = store.create_tenant("acme", admin, at(0)).await.unwrap();
        let okta = NewIntegration { name: "Okta".into(), record_type: "employee".into(), spec: json!({}) };
        let okta = store.create_integration(tenant.id, okta, at(0)).await.unwrap();
        (store, url, tenant.id, okta.id)
    }

    /// An interference that writes `{"n": n}` to `key` through the other
    /// store at `secs`, planning a pending sync due 300 s later.
    fn write_elsewhere(tenant: i64, okta: i64, key: &'static str, n: i64, secs: i64) -> Interference {
        Box::new(move |other| {
            Box::pin(async move {
                let planner = TestPlanner::pending(&[okta], at(secs), at(secs + 300));
                let write = [put(key, json!({ "n": n }))];
                other.write_records(tenant, "employee", &write, &planner, at(secs)).await.unwrap();
            })
        })
    }

    fn interfering(inner: TestPlanner, url: &str, interfere: Interference) -> Interfering {
        Interfering { inner, url: url.to_owned(), interfere: Mutex::new(Some(interfere)) }
    }

    #[tokio::test]
    async fn a_claim_between_a_writes_read_and_its_store_is_not_overwritten() {
        let (store, url, tenant, okta) = setup().await;
        let first = TestPlanner::pending(&[okta], at(0), at(10));
        store.write_records(tenant, "employee", &[put("e1", json!({ "n": 1 }))], &first, at(0)).await.unwrap();

        // The write reads the state pending; a worker claims it before the write stores.
        let claim: Interference = Box::new(|other| {
            Box::pin(async move {
                let claimed = other.claim_due_syncs(at(20), at(80), 10).await.unwrap();
                assert_eq!(claimed.len(), 1, "the other process claims the due sync");
            })
        });
        let planner = interfering(TestPlanner::pending(&[okta], at(20), at(320)), &url, claim);
        let written =
            store.write_records(tenant, "employee", &[put("e1", json!({ "n": 2 }))], &planner, at(20)).await.unwrap();

        let states = store.sync_states_for_records(tenant, &[written[0].record.id]).await.unwrap();
        let state = &states[0];
        assert_eq!(state.status, SyncStatus::Syncing, "the claim stands: the sync is not pended under the worker");
        assert_eq!(state.claim, 1);
        assert!(state.changed_during_sync, "the change is owed to the sync that is running");
        assert_eq!(&written[0].states, &states, "the write reports what it stored");
        let asked = planner.inner.calls();
        assert_eq!(asked.len(), 2, "the write was planned again against what the claim left");
        assert_eq!(asked[1].states[0].status, SyncStatus::Syncing);
    }

    #[tokio::test]
    async fn a_write_of_the_same_record_between_read_and_store_is_not_lost() {
        let (store, url, tenant, okta) = setup().await;
        let planner = TestPlanner::pending(&[okta], at(0), at(300));
        store.write_records(tenant, "employee", &[put("e1", json!({ "n": 1 }))], &planner, at(0)).await.unwrap();

        let other_write = write_elsewhere(tenant, okta, "e1", 2, 1);
        let planner = interfering(TestPlanner::pending(&[okta], at(2), at(302)), &url, other_write);
        let written =
            store.write_records(tenant, "employee", &[put("e1", json!({ "n": 3 }))], &planner, at(2)).await.unwrap();

        assert_eq!(written[0].record.version, 3, "the write came after the other one");
        assert_eq!(written[0].changed_fields, vec!["n".to_string()]);
        let stored = store.get_record(tenant, "employee", "e1").await.unwrap().unwrap();
        assert_eq!((stored.version, stored.fields), (3, json!({ "n": 3 })));
        let asked = planner.inner.calls();
        assert_eq!(asked[1].previous.as_ref().map(|r| r.fields.clone()), Some(json!({ "n": 2 })));
        let state = &store.sync_states_for_records(tenant, &[stored.id]).await.unwrap()[0];
        assert_eq!((state.status, state.due_at), (SyncStatus::Pending, Some(at(302))));
    }

    /// A large batch holds its rows locked while it plans, and debounces in
    /// the record row (slots.rs). A claim meanwhile skips those states
    /// instead of taking them from under it; afterwards they wake at the old
    /// due time, are found debounced, and are claimed at the new one.
    #[tokio::test]
    async fn a_claim_during_a_locked_batch_skips_its_states_and_sees_its_debounce() {
        let (store, url, tenant, okta) = setup().await;
        let batch =
            |n: i64| -> Vec<RecordWrite> { (0..100).map(|i| put(&format!("e{i:03}"), json!({ "n": n }))).collect() };
        let first = TestPlanner::pending(&[okta], at(0), at(10));
        store.write_records(tenant, "employee", &batch(1), &first, at(0)).await.unwrap();

        let claim: Interference = Box::new(|other| {
            Box::pin(async move {
                let claimed = other.claim_due_syncs(at(20), at(80), 1_000).await.unwrap();
                assert_eq!(claimed, vec![], "the batch holds every due state");
            })
        });
        let planner = interfering(TestPlanner::pending(&[okta], at(20), at(320)), &url, claim);
        store.write_records(tenant, "employee", &batch(2), &planner, at(20)).await.unwrap();
        assert_eq!(planner.inner.calls().len(), 100, "planned once: nothing changed under the locks");

        assert_eq!(store.claim_due_syncs(at(20), at(80), 1_000).await.unwrap(), vec![], "debounced to 320");
        assert_eq!(store.next_due_at().await.unwrap(), Some(at(320)));
        let claimed = store.claim_due_syncs(at(320), at(380), 1_000).await.unwrap();
        assert_eq!(claimed.len(), 100);
        assert!(claimed.iter().all(|c| c.record.fields == json!({ "n": 2 })));
    }

    #[tokio::test]
    async fn a_locked_batch_that_meets_another_creator_of_a_new_key_starts_over_and_updates_it() {
        let (store, url, tenant, okta) = setup().await;
        // 100 new keys: the locking path, which plans them as creates.
        let batch: Vec<RecordWrite> = (0..100).map(|i| put(&format!("e{i:03}"), json!({ "n": 2 }))).collect();
        let other_create = write_elsewhere(tenant, okta, "e050", 1, 0);
        let planner = interfering(TestPlanner::pending(&[okta], at(1), at(301)), &url, other_create);
        let written = store.write_records(tenant, "employee", &batch, &planner, at(1)).await.unwrap();

        assert_eq!(planner.inner.calls().len(), 200, "planned again after its insert of e050 failed");
        let e050 = &written[50];
        assert_eq!(e050.record.external_id, "e050");
        assert!(!e050.created, "the record existed by the time the batch stored");
        assert_eq!(e050.record.version, 2);
        assert_eq!(written.iter().filter(|w| w.created).count(), 99);
        let all = store.list_records(tenant, "employee", None, 200).await.unwrap();
        assert_eq!(all.len(), 100, "one record per key, not two");
        assert!(all.iter().all(|r| r.version == 1 || r.external_id == "e050"));
        assert!(all.iter().all(|r| r.fields == json!({ "n": 2 })), "every key holds the batch's write");
        let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
        let states = store.sync_states_for_records(tenant, &ids).await.unwrap();
        assert_eq!(states.len(), 100, "one state per record and integration");
    }

    #[tokio::test]
    async fn a_record_created_elsewhere_between_read_and_store_is_updated_not_duplicated() {
        let (store, url, tenant, okta) = setup().await;
        let other_create = write_elsewhere(tenant, okta, "e9", 1, 0);
        let planner = interfering(TestPlanner::pending(&[okta], at(1), at(301)), &url, other_create);
        let written =
            store.write_records(tenant, "employee", &[put("e9", json!({ "n": 2 }))], &planner, at(1)).await.unwrap();

        assert!(!written[0].created, "the record existed by the time the write stored");
        assert_eq!(written[0].record.version, 2);
        let all = store.list_records(tenant, "employee", None, 10).await.unwrap();
        assert_eq!(all.len(), 1, "one record, not two");
        assert_eq!(all[0].fields, json!({ "n": 2 }));
        let states = store.sync_states_for_records(tenant, &[all[0].id]).await.unwrap();
        assert_eq!(states.len(), 1, "one state per integration");
        assert_eq!(states[0].pending_since, Some(at(0)), "the quiet period that began at the create goes on");
    }
}
