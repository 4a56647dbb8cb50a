//! Cases for `claim_due_syncs`: what is due, the lease, the fencing token,
//! the record handed to the worker, the limit, and concurrent claimers.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{Store, SyncOutcome, SyncStatus};

pub async fn a_claim_makes_the_state_syncing_under_a_lease(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let claimed = claim_all(&store, at(10), at(40)).await;
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(c.record, record, "the record as it is now");
    let s = &c.state;
    assert_eq!((s.record_id, s.integration_id, s.tenant_id), (record.id, okta, tenant_id));
    assert_eq!(s.status, SyncStatus::Syncing);
    assert_eq!((s.claim, s.attempts), (1, 1));
    assert_eq!(s.due_at, Some(at(40)));
    assert!(!s.changed_during_sync);
    let stored = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(
        (stored.status, stored.claim, stored.attempts, stored.due_at),
        (s.status, s.claim, s.attempts, s.due_at)
    );
    assert_eq!(claim_all(&store, at(39), at(70)).await, vec![], "the lease holds");
}

pub async fn claiming_takes_only_due_pending_states_and_expired_leases(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let soon = TestPlanner::pending(&[okta], at(1), at(10));
    let later = TestPlanner::pending(&[okta], at(1), at(100));
    let due = write_one(&store, acme.id, put("due", json!({})), &soon, at(1)).await;
    let done = write_one(&store, acme.id, put("done", json!({})), &soon, at(1)).await;
    write_one(&store, acme.id, put("later", json!({})), &later, at(1)).await;
    write_one(&store, acme.id, put("quiet", json!({})), &TestPlanner::quiet(), at(1)).await;

    // Take "due" and "done" into syncing; finish "done".
    let first = claim_all(&store, at(10), at(40)).await;
    let mut ids: Vec<i64> = first.iter().map(|c| c.record.id).collect();
    ids.sort();
    assert_eq!(ids, {
        let mut v = vec![due.id, done.id];
        v.sort();
        v
    });
    let done_claim = first.iter().find(|c| c.record.id == done.id).unwrap();
    let synced = SyncOutcome::Synced { remote_id: None };
    assert!(finish_one(&store, finish(&done_claim.state, synced, at(11))).await);

    // Before the lease ends nothing is due; after it, only the abandoned "due".
    assert_eq!(claim_all(&store, at(39), at(70)).await, vec![]);
    let again = claim_all(&store, at(40), at(70)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].record.id, due.id);
    assert_eq!((again[0].state.claim, again[0].state.attempts), (2, 2));
    assert_eq!(again[0].state.due_at, Some(at(70)));
}

pub async fn a_reclaimed_state_keeps_its_change_during_sync(store: Arc<dyn Store>) {
    let (tenant_id, okta, _) = one_pending(&store).await;
    claim_all(&store, at(10), at(40)).await;
    let planner = TestPlanner::pending(&[okta], at(20), at(320));
    write(&store, tenant_id, vec![put("e1", json!({"n": 2}))], &planner, at(20)).await;

    let reclaimed = claim_all(&store, at(40), at(70)).await;
    assert_eq!(reclaimed.len(), 1);
    let s = &reclaimed[0].state;
    assert!(s.changed_during_sync, "reclaimed from syncing: the change is still owed");
    assert_eq!((s.claim, s.attempts), (2, 2));
    assert_eq!(reclaimed[0].record.fields, json!({"n": 2}), "the live fields");
}

pub async fn a_claim_of_a_deleted_record_returns_it_with_deleted_at(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let quiet = TestPlanner::quiet();
    write_one(&store, acme.id, put("e1", json!({"n": 1})), &quiet, at(1)).await;
    let planner = TestPlanner::pending(&[okta], at(2), at(10));
    let deleted = write_one(&store, acme.id, delete("e1"), &planner, at(2)).await;

    let claimed = claim_all(&store, at(10), at(40)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record, deleted);
    assert_eq!(claimed[0].record.deleted_at, Some(at(2)));
}

pub async fn claiming_respects_the_limit_earliest_due_first(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let mut expected = Vec::new();
    for (i, due) in [50, 20, 40, 10, 30].into_iter().enumerate() {
        let planner = TestPlanner::pending(&[okta], at(1), at(due));
        let r = write_one(&store, acme.id, put(&format!("e{i}"), json!({})), &planner, at(1)).await;
        expected.push((due, r.id));
    }
    expected.sort();
    let ids_of = |claimed: &[crate::ClaimedSync]| {
        let mut ids: Vec<i64> = claimed.iter().map(|c| c.record.id).collect();
        ids.sort();
        ids
    };
    let first = store.claim_due_syncs(at(60), at(90), 2).await.unwrap();
    let mut earliest = vec![expected[0].1, expected[1].1];
    earliest.sort();
    assert_eq!(ids_of(&first), earliest);
    let rest = store.claim_due_syncs(at(60), at(90), 10).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(store.claim_due_syncs(at(60), at(90), 10).await.unwrap(), vec![]);
}

pub async fn concurrent_claimers_never_get_the_same_state(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let planner = TestPlanner::pending(&[okta, bamboo], at(1), at(10));
    for chunk in 0..4 {
        let batch = (0..100).map(|i| put(&format!("e{chunk}-{i}"), json!({ "i": i }))).collect();
        write(&store, acme.id, batch, &planner, at(1)).await;
    }

    let claimer = |store: Arc<dyn Store>| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = store.claim_due_syncs(at(10), at(600), 7).await.unwrap();
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|c| (c.state.record_id, c.state.integration_id)));
            tokio::task::yield_now().await;
        }
    };
    let one = tokio::spawn(claimer(store.clone()));
    let two = tokio::spawn(claimer(store.clone()));
    let (one, two) = (one.await.unwrap(), two.await.unwrap());

    let mut all: HashSet<(i64, i64)> = HashSet::new();
    for key in one.iter().chain(two.iter()) {
        assert!(all.insert(*key), "{key:?} was claimed twice");
    }
    assert_eq!(all.len(), 800);
    assert_eq!(status_counts(&store).await, [(SyncStatus::Syncing, 800)].into());
}

pub async fn a_debounced_state_is_claimed_at_its_latest_due_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let first = TestPlanner::pending(&[okta], at(1), at(10));
    let record = write_one(&store, acme.id, put("a", json!({ "n": 1 })), &first, at(1)).await;
    let moved = TestPlanner::pending(&[okta], at(5), at(30));
    write_one(&store, acme.id, put("a", json!({ "n": 2 })), &moved, at(5)).await;

    assert_eq!(claim_all(&store, at(10), at(40)).await, vec![], "the first due time no longer counts");
    assert_eq!(
        store.next_due_at().await.unwrap(),
        Some(at(30)),
        "after a look at 10, the next wake-up is the due time"
    );
    assert_eq!(claim_all(&store, at(29), at(59)).await, vec![]);
    let claimed = claim_all(&store, at(30), at(60)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.id, record.id);
    assert_eq!((claimed[0].state.status, claimed[0].state.due_at), (SyncStatus::Syncing, Some(at(60))));
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(60)), "the lease is the next wake-up");
}

pub async fn a_state_moved_earlier_is_claimed_at_its_earlier_due_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let late = TestPlanner::pending(&[okta], at(1), at(30));
    write_one(&store, acme.id, put("a", json!({ "n": 1 })), &late, at(1)).await;
    let early = TestPlanner::pending(&[okta], at(1), at(10));
    write_one(&store, acme.id, put("a", json!({ "n": 2 })), &early, at(5)).await;

    assert_eq!(store.next_due_at().await.unwrap(), Some(at(10)));
    assert_eq!(claim_all(&store, at(10), at(40)).await.len(), 1);
}

pub async fn a_due_state_is_claimed_behind_more_debounced_states_than_the_limit(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let first = TestPlanner::pending(&[okta], at(1), at(10));
    let batch = |n: i64| (0..5).map(|i| put(&format!("e{i}"), json!({ "n": n }))).collect();
    write(&store, acme.id, batch(1), &first, at(1)).await;
    let moved = TestPlanner::pending(&[okta], at(5), at(100));
    write(&store, acme.id, batch(2), &moved, at(5)).await;
    let due = TestPlanner::pending(&[okta], at(5), at(20));
    let record = write_one(&store, acme.id, put("due", json!({})), &due, at(5)).await;

    // Five states woke at 10 but are due at 100; the one due at 20 is
    // claimed in one call even so.
    let claimed = store.claim_due_syncs(at(20), at(500), 2).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.id, record.id);
    assert_eq!(store.claim_due_syncs(at(20), at(500), 2).await.unwrap(), vec![]);
    assert_eq!(store.claim_due_syncs(at(99), at(500), 10).await.unwrap(), vec![]);
    assert_eq!(store.claim_due_syncs(at(100), at(500), 10).await.unwrap().len(), 5);
}
