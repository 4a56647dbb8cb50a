//! Cases for what `write_records` asks the planner and what the answer
//! does to the sync states, and for concurrent writers of the same records.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{Store, SyncStatus};

pub async fn the_planner_sees_the_previous_record_the_next_fields_and_the_states(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let first = TestPlanner::pending(&[okta], at(1), at(100));
    let stored = write_one(&store, acme.id, put("e1", json!({"n": 1})), &first, at(1)).await;
    let stored_states = states(&store, acme.id, stored.id).await;

    let planner = TestPlanner::quiet();
    write(&store, acme.id, vec![put("e1", json!({"n": 2})), delete("e1")], &planner, at(2)).await;
    let calls = planner.calls();
    assert_eq!(calls[0].previous, Some(stored));
    assert_eq!(calls[0].next, Some(json!({"n": 2})));
    assert_eq!(calls[0].states, stored_states);
    assert_eq!(calls[1].next, None, "a delete passes no next fields");
}

pub async fn a_pending_plan_creates_a_pending_state_due_at_the_planned_time(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let planner = TestPlanner::pending(&[okta, bamboo], at(1), at(301));
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 1}))], &planner, at(1)).await;
    assert_eq!(written[0].affected_integrations, vec![okta, bamboo]);

    let record_id = written[0].record.id;
    for s in states(&store, acme.id, record_id).await {
        assert_eq!((s.record_id, s.tenant_id), (record_id, acme.id));
        assert_eq!(s.status, SyncStatus::Pending);
        assert_eq!(s.due_at, Some(at(301)));
        assert_eq!(s.pending_since, Some(at(1)));
        assert_eq!((s.claim, s.attempts, s.changed_during_sync), (0, 0, false));
        assert_eq!((s.last_synced_at, s.remote_id.as_deref()), (None, None));
        assert!(s.errors.is_empty());
        assert_eq!(s.updated_at, at(1));
    }
    assert_eq!(states(&store, acme.id, record_id).await.len(), 2);

    // A further change moves the due time, within the same quiet period.
    let later = TestPlanner::pending(&[okta], at(2), at(302));
    write(&store, acme.id, vec![put("e1", json!({"n": 2}))], &later, at(2)).await;
    let s = state(&store, acme.id, record_id, okta).await;
    assert_eq!((s.status, s.due_at, s.pending_since), (SyncStatus::Pending, Some(at(302)), Some(at(1))));
    let untouched = state(&store, acme.id, record_id, bamboo).await;
    assert_eq!(untouched.due_at, Some(at(301)));
}

pub async fn a_pending_plan_moves_a_finished_state_back_to_pending_and_resets_attempts(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let record = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    let claimed = claim_all(&store, at(10), at(40)).await;
    let errors = vec![error("email", "invalidValue", "taken")];
    let failed = crate::SyncOutcome::Failed { errors: errors.clone() };
    assert!(finish_one(&store, finish(&claimed[0].state, failed, at(11))).await);

    let planner = TestPlanner::pending(&[okta], at(20), at(320));
    write(&store, acme.id, vec![put("e1", json!({"n": 2}))], &planner, at(20)).await;
    let s = state(&store, acme.id, record.id, okta).await;
    assert_eq!(s.status, SyncStatus::Pending);
    assert_eq!((s.due_at, s.pending_since), (Some(at(320)), Some(at(20))));
    assert_eq!(s.attempts, 0);
    assert_eq!(s.claim, 1, "the fencing token never goes back");
    assert_eq!(s.errors, errors, "the last errors stay visible until the next sync");
}

pub async fn a_change_during_a_sync_is_remembered_on_the_syncing_state(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let record = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    let claimed = claim_all(&store, at(10), at(40)).await;
    assert_eq!(claimed.len(), 1);

    let planner = TestPlanner::pending(&[okta], at(12), at(312));
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 2}))], &planner, at(12)).await;
    assert_eq!(written[0].affected_integrations, vec![okta]);
    let s = state(&store, acme.id, record.id, okta).await;
    assert_eq!(s.status, SyncStatus::Syncing);
    assert!(s.changed_during_sync);
    assert_eq!((s.due_at, s.claim, s.attempts), (Some(at(40)), 1, 1), "the lease stands");
    // The planner was asked with the syncing state and answered accordingly.
    let call = &planner.calls()[0];
    assert_eq!(call.states[0].status, SyncStatus::Syncing);
}

pub async fn concurrent_writers_of_the_same_new_records_serialize(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let keys: Vec<String> = (0..60).map(|i| format!("e{i:02}")).collect();

    // Two writers, keys in opposite orders, several rounds each: every batch
    // must succeed (no unique-key conflict on the brand-new keys, no deadlock).
    let writer = |store: Arc<dyn Store>, mut keys: Vec<String>, by: &'static str| async move {
        if by == "b" {
            keys.reverse();
        }
        let planner = TestPlanner::pending(&[okta], at(1), at(100));
        let mut written = Vec::new();
        for round in 0..3 {
            let batch: Vec<_> = keys.iter().map(|k| put(k, json!({ "by": by, "round": round }))).collect();
            let result = store.write_records(acme.id, EMPLOYEE, &batch, &planner, at(1)).await;
            written.extend(result.expect("a concurrent batch must not fail"));
        }
        written
    };
    let a = tokio::spawn(writer(store.clone(), keys.clone(), "a"));
    let b = tokio::spawn(writer(store.clone(), keys.clone(), "b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());

    for key in &keys {
        let mine: Vec<_> = a.iter().chain(b.iter()).filter(|w| &w.record.external_id == key).collect();
        assert_eq!(mine.len(), 6);
        assert_eq!(mine.iter().filter(|w| w.created).count(), 1, "{key} created once");
        let stored = store.get_record(acme.id, EMPLOYEE, key).await.unwrap().unwrap();
        assert!(mine.iter().all(|w| w.record.id == stored.id));
        let changes = mine.iter().filter(|w| !w.changed_fields.is_empty()).count() as i64;
        assert_eq!(stored.version, changes, "{key}: one version per change, none lost");
        assert_eq!(states(&store, acme.id, stored.id).await.len(), 1);
    }
}
