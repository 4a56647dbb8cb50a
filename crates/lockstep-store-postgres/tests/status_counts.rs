//! The status counts on PostgreSQL under what only it has: several
//! processes writing at once while the counts' deltas are folded. However
//! the appends and the folds interleave, the counts equal a `GROUP BY` of
//! the states.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lockstep_store::conformance::support::new_admin;
use lockstep_store::conformance::TestPlanner;
use lockstep_store::{
    IntegrationStore, NewIntegration, RecordStore, RecordWrite, Store, SyncFinish, SyncOutcome, SyncQueue, SyncStatus,
    TenantStore,
};
use lockstep_store_postgres::PgStore;
use serde_json::json;
use support::fresh_database;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
}

/// Writes, claims and finishes through `store`, `rounds` times.
async fn churn(store: Arc<PgStore>, tenant: i64, integrations: Vec<i64>, worker: usize, rounds: i64) {
    for round in 0..rounds {
        let writes: Vec<RecordWrite> = (0..5)
            .map(|i| RecordWrite {
                external_id: format!("w{worker}-{i}"),
                fields: Some(json!({ "round": round })),
                expected_version: None,
            })
            .collect();
        let now = at(round * 10);
        let planner = TestPlanner::pending(&integrations, now, now);
        store.write_records(tenant, "employee", &writes, &planner, now).await.unwrap();
        let claimed = store.claim_due_syncs(now, at(round * 10 + 5), 4).await.unwrap();
        let finishes = claimed
            .iter()
            .enumerate()
            .map(|(n, c)| SyncFinish {
                record_id: c.state.record_id,
                integration_id: c.state.integration_id,
                claim: c.state.claim,
                outcome: if n % 2 == 0 {
                    SyncOutcome::Synced { remote_id: None }
                } else {
                    SyncOutcome::Failed { errors: vec![] }
                },
                now,
                repending_due_at: now,
            })
            .collect();
        store.finish_syncs(finishes).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_equal_a_group_by_while_processes_write_and_fold_at_once() {
    let url = fresh_database().await;
    let first = Arc::new(PgStore::connect(&url).await.unwrap());
    first.migrate().await.unwrap();
    let second = Arc::new(PgStore::connect(&url).await.unwrap());
    let (tenant, _) = first.create_tenant("acme", new_admin("a@acme.test"), at(0)).await.unwrap();
    let mut integrations = Vec::new();
    for name in ["Okta", "BambooHR"] {
        let spec = NewIntegration { name: name.into(), record_type: "employee".into(), spec: json!({}) };
        integrations.push(first.create_integration(tenant.id, spec, at(0)).await.unwrap().id);
    }

    let mut writers = tokio::task::JoinSet::new();
    for worker in 0..4 {
        let store = if worker % 2 == 0 { first.clone() } else { second.clone() };
        writers.spawn(churn(store, tenant.id, integrations.clone(), worker, 15));
    }
    let mut folds = 0;
    while !writers.is_empty() {
        folds += usize::from(first.fold_sync_status_counts().await.unwrap());
        folds += usize::from(second.fold_sync_status_counts().await.unwrap());
        if let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
        tokio::task::yield_now().await;
    }
    assert!(folds > 0, "the folds ran beside the writers");
    // Whatever the interleaving left, one more claim makes sure the counts
    // span several statuses: two states syncing, one of them then synced,
    // and the rest of the last writes still pending.
    let claimed = first.claim_due_syncs(at(1_000), at(1_005), 2).await.unwrap();
    assert_eq!(claimed.len(), 2, "the last writes left syncs due");
    let synced = SyncFinish {
        record_id: claimed[0].state.record_id,
        integration_id: claimed[0].state.integration_id,
        claim: claimed[0].state.claim,
        outcome: SyncOutcome::Synced { remote_id: None },
        now: at(1_000),
        repending_due_at: at(1_000),
    };
    assert_eq!(first.finish_syncs(vec![synced]).await.unwrap(), vec![true]);
    second.fold_sync_status_counts().await.unwrap();

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let expected = grouped_statuses(&pool).await;
    for status in [SyncStatus::Pending, SyncStatus::Syncing, SyncStatus::Synced] {
        assert!(expected.contains_key(&status), "no {status:?} state left: {expected:?}");
    }
    assert_eq!(kept_counts(&second).await, expected);

    // The last change spans states of every kind, deleted ones included.
    assert!(second.delete_integration(tenant.id, integrations[1]).await.unwrap());
    first.fold_sync_status_counts().await.unwrap();
    assert_eq!(kept_counts(&second).await, grouped_statuses(&pool).await);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_status_deltas").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 1, "folded into one row");
}

/// The states per status, counted from the table itself.
async fn grouped_statuses(pool: &sqlx::PgPool) -> BTreeMap<SyncStatus, i64> {
    let grouped: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM sync_states GROUP BY status").fetch_all(pool).await.unwrap();
    grouped.into_iter().map(|(status, n)| (SyncStatus::parse(&status).unwrap(), n)).collect()
}

/// The store's counts, leaving out the statuses no state has.
async fn kept_counts(store: &PgStore) -> BTreeMap<SyncStatus, i64> {
    let mut kept: BTreeMap<SyncStatus, i64> = store.sync_status_counts().await.unwrap().into_iter().collect();
    kept.retain(|_, n| *n != 0);
    kept
}
