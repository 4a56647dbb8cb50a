//! A claim against a debounce that commits while the claim runs.
//!
//! A locked batch debounces a pending sync by writing only its record row
//! (migration 0007), so the state row a claim finds due is unchanged. The
//! claim locks the record too (`FOR SHARE`), and a locked row is read as last
//! committed: a debounce that commits after the claim's statement began, but
//! before it reaches the record, still defers the sync. Without that lock the
//! claim would start a sync the debounce had just put off, with the values
//! of before the change.
//!
//! To open that window on purpose, the test makes the claim wait inside the
//! due-time function (`lockstep_due_at`), which it computes after reading
//! the rows and before locking them: the function is replaced, for this
//! database only, by one that first waits for an advisory lock the test
//! holds. The real store, statements and server do everything else.

mod support;

use std::sync::Arc;

use lockstep_store::conformance::support::{at, integration, put, tenant, EMPLOYEE};
use lockstep_store::conformance::TestPlanner;
use lockstep_store::{Store, SyncStatus};
use lockstep_store_postgres::PgStore;
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// The advisory lock the slowed due-time function waits for.
const GATE: i64 = 7_000_007;

#[tokio::test]
async fn a_debounce_that_commits_while_a_claim_runs_defers_the_sync() {
    let url = support::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    let (tenant, _) = tenant(&store, "acme").await;
    let okta = integration(&store, tenant.id, "Okta").await;
    // One sync due at 10 s; 64 more records, due much later, so that the
    // debounce below is a batch of 65 (the locking path).
    let due_soon = TestPlanner::pending(&[okta], at(0), at(10));
    store.write_records(tenant.id, EMPLOYEE, &[put("e000", json!({ "n": 0 }))], &due_soon, at(0)).await.unwrap();
    let others: Vec<_> = (1..=64).map(|i| put(&format!("e{i:03}"), json!({ "n": 0 }))).collect();
    let due_late = TestPlanner::pending(&[okta], at(0), at(1_000));
    store.write_records(tenant.id, EMPLOYEE, &others, &due_late, at(0)).await.unwrap();

    let mut gate = PgConnection::connect(&url).await.unwrap();
    slow_down_due_times(&mut gate).await;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(GATE).execute(&mut gate).await.unwrap();

    // The claim at 20 s reads e000's state as due and stops at the gate.
    let claimer = store.clone();
    let claim = tokio::spawn(async move { claimer.claim_due_syncs(at(20), at(80), 100).await });
    wait_for_a_backend_at_the_gate(&mut gate).await;

    // Meanwhile a batch debounces e000 to 315 s and commits.
    let debounced = TestPlanner::pending(&[okta], at(15), at(315));
    let batch: Vec<_> = (0..=64).map(|i| put(&format!("e{i:03}"), json!({ "n": 1 }))).collect();
    let written = store.write_records(tenant.id, EMPLOYEE, &batch, &debounced, at(15)).await.unwrap();

    sqlx::query("SELECT pg_advisory_unlock($1)").bind(GATE).execute(&mut gate).await.unwrap();
    let claimed = claim.await.unwrap().unwrap();
    assert!(claimed.is_empty(), "the claim started a sync that was debounced before it locked the record: {claimed:?}");
    let states = store.sync_states_for_records(tenant.id, &[written[0].record.id]).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].status, SyncStatus::Pending);
    assert_eq!(states[0].due_at, Some(at(315)), "the sync waits for the debounced due time");
}

/// Replaces `lockstep_due_at` with the same computation behind [`GATE`].
async fn slow_down_due_times(conn: &mut PgConnection) {
    sqlx::query(
        "CREATE OR REPLACE FUNCTION lockstep_due_at(status TEXT, due_at TIMESTAMPTZ, debounce JSONB, integration_id BIGINT)
         RETURNS TIMESTAMPTZ LANGUAGE plpgsql STABLE AS $$
         BEGIN
             PERFORM pg_advisory_lock_shared(7000007);
             PERFORM pg_advisory_unlock_shared(7000007);
             RETURN CASE WHEN status = 'sync_pending'
                 THEN GREATEST(due_at, 'epoch'::timestamptz
                     + (debounce ->> integration_id::text)::bigint * interval '1 millisecond')
                 ELSE due_at END;
         END $$",
    )
    .execute(conn)
    .await
    .unwrap();
}

/// Returns once another backend waits for [`GATE`]: the claim has read its
/// rows and not yet locked them.
async fn wait_for_a_backend_at_the_gate(conn: &mut PgConnection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
               AND (classid::bigint << 32 | objid::bigint) = $1",
        )
        .bind(GATE)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the claim never reached the due-time function");
}
