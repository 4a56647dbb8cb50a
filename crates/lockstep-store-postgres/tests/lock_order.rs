//! Statements that lock many sync states at once never wait for each other
//! in a cycle (the lock order in the crate's docs).
//!
//! Workers finish a batch of syncs while records of the same states are
//! written, and an integration is removed while its syncs are finished. Each
//! side is sent its rows in the opposite order to the other's, which is how
//! they arrive in production (a claim orders by due time, a write by key),
//! and both run at once, round after round, on two connections of the real
//! server. Were either to lock in the order it was handed its rows,
//! PostgreSQL would abort one as a deadlock and the call would fail; a
//! finish that fails so leaves its sync to be done twice.

mod support;

use std::sync::Arc;

use lockstep_store::conformance::support::{at, finish, integration, put, tenant, EMPLOYEE};
use lockstep_store::conformance::TestPlanner;
use lockstep_store::{ClaimedSync, Store, StoreResult, SyncOutcome};
use lockstep_store_postgres::PgStore;
use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

const RECORDS: usize = 40;
const ROUNDS: i64 = 60;

async fn store(url: &str) -> Arc<dyn Store> {
    Arc::new(PgStore::connect(url).await.unwrap())
}

/// Every sync due at `now`, claimed, highest key first.
async fn claim_in_reverse(store: &Arc<dyn Store>, now: i64) -> Vec<ClaimedSync> {
    let mut claimed = store.claim_due_syncs(at(now), at(now + 60), 1_000).await.unwrap();
    claimed.sort_by_key(|c| std::cmp::Reverse((c.state.record_id, c.state.integration_id)));
    claimed
}

/// Finishes every claimed sync as synced at `now`, on its own task, once
/// `barrier` lets it go (with the other side's call).
fn finish_all_after(
    barrier: &Arc<Barrier>,
    workers: &Arc<dyn Store>,
    claimed: &[ClaimedSync],
    now: i64,
) -> JoinHandle<StoreResult<Vec<bool>>> {
    let finishes: Vec<_> =
        claimed.iter().map(|c| finish(&c.state, SyncOutcome::Synced { remote_id: None }, at(now))).collect();
    let (barrier, workers) = (barrier.clone(), workers.clone());
    tokio::spawn(async move {
        barrier.wait().await;
        workers.finish_syncs(finishes).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishes_and_writes_of_the_same_states_never_deadlock() {
    let url = support::fresh_database().await;
    let (workers, writers) = (store(&url).await, store(&url).await);
    workers.migrate().await.unwrap();
    let (tenant, _) = tenant(&workers, "acme").await;
    let integrations =
        vec![integration(&workers, tenant.id, "Okta").await, integration(&workers, tenant.id, "Payroll").await];
    let keys: Vec<String> = (0..RECORDS).map(|i| format!("e{i:03}")).collect();

    for round in 0..ROUNDS {
        let now = round * 100;
        let planner = TestPlanner::pending(&integrations, at(now), at(now));
        let writes: Vec<_> = keys.iter().map(|key| put(key, json!({ "round": round }))).collect();
        writers.write_records(tenant.id, EMPLOYEE, &writes, &planner, at(now)).await.unwrap();
        let claimed = claim_in_reverse(&workers, now).await;
        assert_eq!(claimed.len(), RECORDS * integrations.len());

        // While the workers finish every claimed sync, the next change of
        // every record arrives and marks the same states changed during sync.
        let barrier = Arc::new(Barrier::new(2));
        let finishing = finish_all_after(&barrier, &workers, &claimed, now + 1);
        let later = TestPlanner::pending(&integrations, at(now + 1), at(now + 50));
        let writes: Vec<_> = keys.iter().map(|key| put(key, json!({ "round": round, "again": true }))).collect();
        barrier.wait().await;
        let written = writers.write_records(tenant.id, EMPLOYEE, &writes, &later, at(now + 1)).await;
        let finished = finishing.await.unwrap();
        assert!(written.is_ok(), "round {round}: the write failed: {written:?}");
        let finished = finished.unwrap_or_else(|error| panic!("round {round}: the finish failed: {error}"));
        assert!(finished.iter().all(|applied| *applied), "round {round}: every finish applies");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_integration_while_its_syncs_finish_never_deadlocks() {
    let url = support::fresh_database().await;
    let (workers, admins) = (store(&url).await, store(&url).await);
    workers.migrate().await.unwrap();
    let (tenant, _) = tenant(&workers, "acme").await;
    let keys: Vec<String> = (0..RECORDS).map(|i| format!("e{i:03}")).collect();

    for round in 0..ROUNDS {
        let now = round * 100;
        let okta = integration(&workers, tenant.id, &format!("Okta {round}")).await;
        let planner = TestPlanner::pending(&[okta], at(now), at(now));
        let writes: Vec<_> = keys.iter().map(|key| put(key, json!({ "round": round }))).collect();
        admins.write_records(tenant.id, EMPLOYEE, &writes, &planner, at(now)).await.unwrap();
        let claimed = claim_in_reverse(&workers, now).await;
        assert_eq!(claimed.len(), RECORDS);

        let barrier = Arc::new(Barrier::new(2));
        let finishing = finish_all_after(&barrier, &workers, &claimed, now + 1);
        barrier.wait().await;
        let removed = admins.delete_integration(tenant.id, okta).await;
        let finished = finishing.await.unwrap();
        assert!(matches!(removed, Ok(true)), "round {round}: the removal failed: {removed:?}");
        // Either order is right: finished first, or the states were gone.
        let finished = finished.unwrap_or_else(|error| panic!("round {round}: the finish failed: {error}"));
        assert!(
            finished.iter().all(|applied| *applied) || finished.iter().all(|applied| !*applied),
            "round {round}: a finish saw part of a removal: {finished:?}"
        );
    }
}
