//! Cases for the end of a sync and what follows: fenced finishes, explicit
//! retries, the next due time, the status counts and the work signal.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::{Store, StoreError, SyncOutcome, SyncStatus};

pub async fn a_synced_outcome_records_the_sync(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let claimed = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let retry = SyncOutcome::Retry { at: at(15), errors: vec![error("email", "503", "busy")] };
    assert!(finish_one(&store, finish(&claimed, retry, at(11))).await);
    let claimed = claim_all(&store, at(15), at(45)).await.remove(0).state;

    let synced = SyncOutcome::Synced { remote_id: Some("remote-1".into()) };
    assert!(finish_one(&store, finish(&claimed, synced, at(16))).await);
    let s = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(s.status, SyncStatus::Synced);
    assert_eq!(s.last_synced_at, Some(at(16)));
    assert_eq!(s.remote_id.as_deref(), Some("remote-1"));
    assert!(s.errors.is_empty(), "a success clears the errors");
    assert_eq!(s.due_at, None);
    assert_eq!((s.claim, s.attempts), (2, 2));
    assert_eq!(s.updated_at, at(16));

    // The next sync that learns no remote id keeps the known one.
    let planner = TestPlanner::pending(&[okta], at(20), at(30));
    write(&store, tenant_id, vec![put("e1", json!({"n": 2}))], &planner, at(20)).await;
    let claimed = claim_all(&store, at(30), at(60)).await.remove(0).state;
    let synced = SyncOutcome::Synced { remote_id: None };
    assert!(finish_one(&store, finish(&claimed, synced, at(31))).await);
    let s = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(s.remote_id.as_deref(), Some("remote-1"));
    assert_eq!(s.last_synced_at, Some(at(31)));
}

pub async fn a_failed_outcome_keeps_the_errors(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let claimed = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let errors = vec![
        error("email", "uniqueness", "already taken"),
        crate::SyncError { field: None, code: "400".into(), message: "bad request".into() },
    ];
    let failed = SyncOutcome::Failed { errors: errors.clone() };
    assert!(finish_one(&store, finish(&claimed, failed, at(12))).await);
    let s = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(s.status, SyncStatus::Failed);
    assert_eq!(s.errors, errors);
    assert_eq!((s.due_at, s.last_synced_at), (None, None));
    assert_eq!(claim_all(&store, at(1000), at(1030)).await, vec![], "no retry by itself");
}

pub async fn a_retry_outcome_stays_syncing_until_the_retry_time(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let claimed = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let errors = vec![error("email", "timeout", "no answer")];
    let retry = SyncOutcome::Retry { at: at(20), errors: errors.clone() };
    assert!(finish_one(&store, finish(&claimed, retry, at(11))).await);
    let s = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(s.status, SyncStatus::Syncing);
    assert_eq!(s.due_at, Some(at(20)));
    assert_eq!(s.errors, errors);
    assert_eq!(s.claim, 1);

    assert_eq!(claim_all(&store, at(19), at(49)).await, vec![]);
    let again = claim_all(&store, at(20), at(50)).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].state.claim, again[0].state.attempts), (2, 2));
}

pub async fn a_finish_with_a_stale_claim_is_refused(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let stale = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let current = claim_all(&store, at(40), at(70)).await.remove(0).state;
    assert_eq!(current.claim, stale.claim + 1);
    let before = state(&store, tenant_id, record.id, okta).await;

    let synced = || SyncOutcome::Synced { remote_id: Some("r".into()) };
    let applied = store
        .finish_syncs(vec![
            finish(&stale, synced(), at(41)),
            finish(&current, SyncOutcome::Failed { errors: vec![] }, at(41)),
        ])
        .await
        .unwrap();
    assert_eq!(applied, vec![false, true]);
    let after = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(after.status, SyncStatus::Failed);
    assert_eq!(after.remote_id, before.remote_id, "the stale finish changed nothing");

    // Nor does any finish apply to a state that is no longer syncing.
    assert!(!finish_one(&store, finish(&current, synced(), at(42))).await);
    let unchanged = state(&store, tenant_id, record.id, okta).await;
    assert_eq!(unchanged, after);
    assert_eq!(store.finish_syncs(vec![]).await.unwrap(), Vec::<bool>::new());
}

pub async fn a_change_during_the_sync_sends_the_record_back_to_pending(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let batch = vec![put("ok", json!({"n": 1})), put("ko", json!({"n": 1}))];
    let written = write(&store, acme.id, batch, &planner, at(1)).await;
    let (ok, ko) = (written[0].record.id, written[1].record.id);
    let claimed = claim_all(&store, at(10), at(40)).await;
    let change = TestPlanner::pending(&[okta], at(12), at(312));
    let batch = vec![put("ok", json!({"n": 2})), put("ko", json!({"n": 2}))];
    write(&store, acme.id, batch, &change, at(12)).await;

    let finishes = claimed
        .iter()
        .map(|c| {
            let outcome = if c.record.id == ok {
                SyncOutcome::Synced { remote_id: Some("r-ok".into()) }
            } else {
                SyncOutcome::Failed { errors: vec![error("n", "invalid", "no")] }
            };
            let mut f = finish(&c.state, outcome, at(20));
            f.repending_due_at = at(320);
            f
        })
        .collect();
    assert_eq!(store.finish_syncs(finishes).await.unwrap(), vec![true, true]);

    for id in [ok, ko] {
        let s = state(&store, acme.id, id, okta).await;
        assert_eq!(s.status, SyncStatus::Pending, "a new grace period, not lost");
        assert_eq!((s.due_at, s.pending_since), (Some(at(320)), Some(at(20))));
        assert!(!s.changed_during_sync);
    }
    let s = state(&store, acme.id, ok, okta).await;
    assert_eq!((s.last_synced_at, s.remote_id.as_deref()), (Some(at(20)), Some("r-ok")));
    let s = state(&store, acme.id, ko, okta).await;
    assert_eq!(s.errors, vec![error("n", "invalid", "no")]);
    let again = claim_all(&store, at(320), at(350)).await;
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|c| c.state.attempts == 1 && !c.state.changed_during_sync));
}

pub async fn retrying_moves_only_failed_states_back_to_pending(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let hibob = integration(&store, acme.id, "HiBob").await;
    let planner = TestPlanner::pending(&[okta, bamboo, hibob], at(1), at(10));
    let record = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    for c in claim_all(&store, at(10), at(40)).await {
        let outcome = if c.state.integration_id == bamboo {
            SyncOutcome::Synced { remote_id: None }
        } else {
            SyncOutcome::Failed { errors: vec![error("n", "invalid", "no")] }
        };
        assert!(finish_one(&store, finish(&c.state, outcome, at(11))).await);
    }

    assert_eq!(store.retry_failed(acme.id, record.id, Some(bamboo), at(50)).await.unwrap(), 0);
    assert_eq!(store.retry_failed(acme.id, record.id, Some(okta), at(50)).await.unwrap(), 1);
    let s = state(&store, acme.id, record.id, okta).await;
    assert_eq!((s.status, s.due_at, s.attempts), (SyncStatus::Pending, Some(at(50)), 0));
    assert_eq!(state(&store, acme.id, record.id, hibob).await.status, SyncStatus::Failed);

    assert_eq!(store.retry_failed(acme.id, record.id, None, at(60)).await.unwrap(), 1);
    let s = state(&store, acme.id, record.id, hibob).await;
    assert_eq!((s.status, s.due_at), (SyncStatus::Pending, Some(at(60))));
    assert_eq!(state(&store, acme.id, record.id, okta).await.due_at, Some(at(50)));
    assert_eq!(state(&store, acme.id, record.id, bamboo).await.status, SyncStatus::Synced);
    assert_eq!(store.retry_failed(acme.id, record.id, None, at(70)).await.unwrap(), 0);
}

pub async fn next_due_at_is_the_earliest_pending_or_syncing_due_time(store: Arc<dyn Store>) {
    assert_eq!(store.next_due_at().await.unwrap(), None);
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    for (id, due) in [("a", 30), ("b", 10), ("c", 20)] {
        let planner = TestPlanner::pending(&[okta], at(1), at(due));
        write_one(&store, acme.id, put(id, json!({})), &planner, at(1)).await;
    }
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(10)));

    // "b" is claimed with a lease until 25: its lease counts, as a due time.
    let claimed = store.claim_due_syncs(at(10), at(25), 1).await.unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(20)));
    let synced = SyncOutcome::Synced { remote_id: None };
    assert!(finish_one(&store, finish(&claimed[0].state, synced, at(11))).await);
    claim_all(&store, at(20), at(45)).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(30)));
    claim_all(&store, at(30), at(50)).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(45)));
}

pub async fn sync_status_counts_count_states_per_status(store: Arc<dyn Store>) {
    assert_eq!(status_counts(&store).await, [].into());
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let workday = integration(&store, globex.id, "Workday").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let batch = (0..4).map(|i| put(&format!("e{i}"), json!({}))).collect();
    write(&store, acme.id, batch, &planner, at(1)).await;
    let later = TestPlanner::pending(&[workday], at(1), at(100));
    write(&store, globex.id, vec![put("g", json!({}))], &later, at(1)).await;

    let claimed = claim_all(&store, at(10), at(40)).await;
    assert_eq!(claimed.len(), 4);
    let outcomes = [
        SyncOutcome::Synced { remote_id: None },
        SyncOutcome::Failed { errors: vec![] },
        SyncOutcome::Failed { errors: vec![] },
    ];
    let finishes = claimed.iter().zip(outcomes).map(|(c, o)| finish(&c.state, o, at(11))).collect();
    store.finish_syncs(finishes).await.unwrap();
    let expected =
        [(SyncStatus::Pending, 1), (SyncStatus::Syncing, 1), (SyncStatus::Synced, 1), (SyncStatus::Failed, 2)];
    assert_eq!(status_counts(&store).await, expected.into());
}

/// Waits for a work signal that was registered before `action` ran.
async fn signalled_by<F: std::future::Future>(store: &Arc<dyn Store>, action: F) -> bool {
    let signal = store.work_signal();
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    action.await;
    tokio::time::timeout(Duration::from_secs(5), notified).await.is_ok()
}

pub async fn a_write_that_plans_a_pending_sync_signals_work(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let write_ = write(&store, acme.id, vec![put("e1", json!({}))], &planner, at(1));
    assert!(signalled_by(&store, write_).await, "no work signal within 5 s of the write");
}

pub async fn retrying_failed_syncs_signals_work(store: Arc<dyn Store>) {
    let (tenant_id, _, record) = one_pending(&store).await;
    let claimed = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let failed = SyncOutcome::Failed { errors: vec![] };
    assert!(finish_one(&store, finish(&claimed, failed, at(11))).await);
    let retry = async {
        let moved = store.retry_failed(tenant_id, record.id, None, at(12)).await.unwrap();
        assert_eq!(moved, 1);
    };
    assert!(signalled_by(&store, retry).await, "no work signal within 5 s of the retry");
}

/// A database may refuse a value a third party sent (PostgreSQL cannot hold
/// a NUL in JSON text); then none of the group applies and the error says
/// so (`Refused`), so the caller can record the others one by one. A
/// database that holds the value stores it as given.
pub async fn a_group_of_finishes_is_stored_whole_or_refused_whole(store: Arc<dyn Store>) {
    let (tenant_id, okta, first) = one_pending(&store).await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let second = write_one(&store, tenant_id, put("e2", json!({"n": 1})), &planner, at(1)).await;
    let claimed = claim_all(&store, at(10), at(40)).await;
    let claim_of = |id: i64| claimed.iter().find(|c| c.record.id == id).expect("claimed").state.clone();
    let refused = vec![error("email", "400", "bad\u{0}value")];
    let group = vec![
        finish(&claim_of(first.id), SyncOutcome::Synced { remote_id: None }, at(11)),
        finish(&claim_of(second.id), SyncOutcome::Failed { errors: refused.clone() }, at(11)),
    ];
    match store.finish_syncs(group).await {
        Ok(applied) => {
            assert_eq!(applied, vec![true, true]);
            assert_eq!(state(&store, tenant_id, second.id, okta).await.errors, refused);
        }
        Err(StoreError::Refused(_)) => {
            for record in [first.id, second.id] {
                let s = state(&store, tenant_id, record, okta).await;
                assert_eq!(s.status, SyncStatus::Syncing, "nothing of a refused group applies");
            }
        }
        Err(other) => panic!("a refused value must be reported as Refused, not {other}"),
    }
}
