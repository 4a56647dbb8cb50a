//! Cases for large batches: the debounce, a due time moved earlier, a
//! change during a sync, a retry and single writes after a batch, each over
//! more records than a store may write on its small-write path (PostgreSQL
//! takes its locking path above 64 keys, and debounces there in the record
//! row).

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{RecordWrite, Store, SyncOutcome, SyncStatus};

/// Enough keys for any store's large-batch path.
const KEYS: usize = 100;

fn batch(n: i64) -> Vec<RecordWrite> {
    (0..KEYS).map(|i| put(&format!("e{i:03}"), json!({ "n": n }))).collect()
}

pub async fn a_debounced_batch_is_claimed_at_its_latest_due_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    write(&store, acme.id, batch(1), &TestPlanner::pending(&[okta], at(1), at(10)), at(1)).await;
    let written = write(&store, acme.id, batch(2), &TestPlanner::pending(&[okta], at(5), at(30)), at(5)).await;

    let ids: Vec<i64> = written.iter().map(|w| w.record.id).collect();
    let stored = store.sync_states_for_records(acme.id, &ids).await.unwrap();
    assert_eq!(stored.len(), KEYS);
    for (written, stored) in written.iter().zip(&stored) {
        assert_eq!(&written.states, std::slice::from_ref(stored), "the write reports what a read shows");
        assert_eq!((stored.status, stored.due_at), (SyncStatus::Pending, Some(at(30))));
        assert_eq!(stored.pending_since, Some(at(1)), "the quiet period goes on");
    }

    assert_eq!(claim_all(&store, at(10), at(40)).await, vec![], "the first due time no longer counts");
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(30)), "after a look at 10, they wake when due");
    let claimed = claim_all(&store, at(30), at(60)).await;
    assert_eq!(claimed.len(), KEYS);
    assert!(claimed.iter().all(|c| c.record.fields == json!({ "n": 2 })), "the worker gets the latest values");
}

pub async fn a_batch_moving_due_times_earlier_is_claimed_at_the_earlier_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    write(&store, acme.id, batch(1), &TestPlanner::pending(&[okta], at(1), at(30)), at(1)).await;
    write(&store, acme.id, batch(2), &TestPlanner::pending(&[okta], at(2), at(40)), at(2)).await;
    // A shorter grace period, say: the next change makes them due sooner.
    write(&store, acme.id, batch(3), &TestPlanner::pending(&[okta], at(3), at(10)), at(3)).await;

    assert_eq!(store.next_due_at().await.unwrap(), Some(at(10)));
    assert_eq!(claim_all(&store, at(10), at(70)).await.len(), KEYS);
}

pub async fn a_batch_during_a_sync_is_owed_to_the_running_sync(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    write(&store, acme.id, batch(1), &TestPlanner::pending(&[okta], at(1), at(10)), at(1)).await;
    write(&store, acme.id, batch(2), &TestPlanner::pending(&[okta], at(2), at(20)), at(2)).await;
    assert_eq!(claim_all(&store, at(20), at(50)).await.len(), KEYS);

    let written = write(&store, acme.id, batch(3), &TestPlanner::pending(&[okta], at(25), at(325)), at(25)).await;
    let ids: Vec<i64> = written.iter().map(|w| w.record.id).collect();
    for state in store.sync_states_for_records(acme.id, &ids).await.unwrap() {
        assert_eq!(state.status, SyncStatus::Syncing);
        assert!(state.changed_during_sync, "the change is owed to the sync that is running");
        assert_eq!(state.due_at, Some(at(50)), "the lease stands");
    }
}

pub async fn a_retry_after_a_debounced_batch_is_due_at_the_retry_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    write(&store, acme.id, batch(1), &TestPlanner::pending(&[okta], at(1), at(10)), at(1)).await;
    write(&store, acme.id, batch(2), &TestPlanner::pending(&[okta], at(2), at(30)), at(2)).await;
    let claimed = claim_all(&store, at(30), at(60)).await;
    assert_eq!(claimed.len(), KEYS);
    let failed = || SyncOutcome::Failed { errors: vec![error("email", "invalidValue", "taken")] };
    let finishes = claimed.iter().map(|c| finish(&c.state, failed(), at(31))).collect();
    assert!(store.finish_syncs(finishes).await.unwrap().iter().all(|done| *done));

    // A retry due earlier than the last debounce (another process's clock,
    // say) is due when asked, not when the old quiet period would have been.
    let record = &claimed[0].record;
    assert_eq!(store.retry_failed(acme.id, record.id, None, at(20)).await.unwrap(), 1);
    assert_eq!(state(&store, acme.id, record.id, okta).await.due_at, Some(at(20)));
    assert_eq!(claim_all(&store, at(20), at(50)).await.len(), 1);
}

pub async fn a_single_write_after_a_debounced_batch_moves_the_due_time_either_way(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    write(&store, acme.id, batch(1), &TestPlanner::pending(&[okta], at(1), at(10)), at(1)).await;
    write(&store, acme.id, batch(2), &TestPlanner::pending(&[okta], at(2), at(30)), at(2)).await;
    // A batch that repeats a key: each write sees the one before it.
    let mut repeated = batch(3);
    repeated.push(put("e000", json!({ "n": 4 })));
    let written = write(&store, acme.id, repeated, &TestPlanner::pending(&[okta], at(3), at(40)), at(3)).await;
    assert_eq!(written[KEYS].record.version, 4);

    let later = TestPlanner::pending(&[okta], at(4), at(50));
    let record = write_one(&store, acme.id, put("e000", json!({ "n": 5 })), &later, at(4)).await;
    assert_eq!(state(&store, acme.id, record.id, okta).await.due_at, Some(at(50)));
    let earlier = TestPlanner::pending(&[okta], at(5), at(15));
    write_one(&store, acme.id, put("e001", json!({ "n": 5 })), &earlier, at(5)).await;

    let claimed = claim_all(&store, at(15), at(75)).await;
    assert_eq!(claimed.len(), 1, "only the record moved earlier is due at 15");
    assert_eq!(claimed[0].record.external_id, "e001");
    assert_eq!(claim_all(&store, at(40), at(75)).await.len(), KEYS - 2);
    assert_eq!(claim_all(&store, at(50), at(75)).await.len(), 1);
}
