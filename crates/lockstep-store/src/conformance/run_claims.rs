//! Cases for the sync states of a Sync Now run: what a run's claim takes
//! (new, pending, synced, failed states, deleted records), what it leaves
//! (a live lease, another tenant's or type's records), record writes racing
//! it, and its results stored with the fenced finishes of `finish_syncs`.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use super::sync_runs::{claimed, entry, quiet_records, start};
use crate::{ChangeAction, LogOutcome, RunClaim, Store, SyncOutcome, SyncRunCounts, SyncRunResults, SyncStatus};

pub async fn a_run_claims_new_pending_synced_and_failed_states(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    // "synced" and "failed" were pushed by the write sync; "pending" waits
    // for its grace period; "fresh" has never been synced.
    let due = TestPlanner::pending(&[okta], at(1), at(10));
    let synced = write_one(&store, acme.id, put("synced", json!({"n": 1})), &due, at(1)).await;
    let failed = write_one(&store, acme.id, put("failed", json!({"n": 1})), &due, at(1)).await;
    let errors = vec![error("email", "uniqueness", "taken")];
    for c in claim_all(&store, at(10), at(40)).await {
        let outcome = if c.record.id == synced.id {
            SyncOutcome::Synced { remote_id: Some("r-synced".into()) }
        } else {
            SyncOutcome::Failed { errors: errors.clone() }
        };
        assert!(finish_one(&store, finish(&c.state, outcome, at(11))).await);
    }
    let later = TestPlanner::pending(&[okta], at(12), at(500));
    let pending = write_one(&store, acme.id, put("pending", json!({"n": 1})), &later, at(12)).await;
    let fresh = write_one(&store, acme.id, put("fresh", json!({"n": 1})), &TestPlanner::quiet(), at(12)).await;

    let ids = [fresh.id, pending.id, synced.id, failed.id];
    let claims = claimed(store.claim_syncs_for_run(acme.id, okta, &ids, at(100), at(130)).await.unwrap());
    let records: Vec<i64> = claims.iter().map(|c| c.record.id).collect();
    assert_eq!(records, ids, "one answer per record, in the order given");
    for c in &claims {
        let current = store.get_record(acme.id, EMPLOYEE, &c.record.external_id).await.unwrap();
        assert_eq!(Some(&c.record), current.as_ref(), "the record as it is now");
        let s = &c.state;
        assert_eq!((s.record_id, s.integration_id, s.tenant_id), (c.record.id, okta, acme.id));
        assert_eq!(
            (s.status, s.due_at, s.attempts),
            (SyncStatus::Syncing, Some(at(130)), 1),
            "a new sync under the lease"
        );
        assert_eq!((s.pending_since, s.changed_during_sync, s.updated_at), (None, false, at(100)));
        assert_eq!(&state(&store, acme.id, c.record.id, okta).await, s, "as stored");
    }
    let [fresh_c, pending_c, synced_c, failed_c] =
        [&claims[0].state, &claims[1].state, &claims[2].state, &claims[3].state];
    assert_eq!(fresh_c.claim, 1, "a state created for the run");
    assert_eq!((fresh_c.last_synced_at, &fresh_c.errors, &fresh_c.remote_id), (None, &vec![], &None));
    assert_eq!(pending_c.claim, 1, "taken before its due time");
    assert_eq!(synced_c.claim, 2);
    assert_eq!((synced_c.last_synced_at, synced_c.remote_id.as_deref()), (Some(at(11)), Some("r-synced")), "kept");
    assert_eq!((failed_c.claim, &failed_c.errors), (2, &errors), "the last errors stay until the next finish");

    // The write sync leaves them to the run until the lease ends, then takes over.
    assert_eq!(claim_all(&store, at(129), at(160)).await, vec![]);
    let taken = claim_all(&store, at(130), at(160)).await;
    assert_eq!(taken.len(), 4);
    for t in taken {
        let run_claim = claims.iter().find(|c| c.record.id == t.record.id).unwrap();
        assert_eq!(t.state.claim, run_claim.state.claim + 1, "the run's late finish would be fenced off");
    }
}

pub async fn a_run_leaves_a_state_syncing_under_a_live_lease_alone(store: Arc<dyn Store>) {
    let (tenant_id, okta, record) = one_pending(&store).await;
    let leased = claim_all(&store, at(10), at(40)).await.remove(0).state;
    let busy = store.claim_syncs_for_run(tenant_id, okta, &[record.id], at(20), at(50)).await.unwrap();
    assert_eq!(busy, vec![RunClaim::Busy { record_id: record.id }]);
    assert_eq!(state(&store, tenant_id, record.id, okta).await, leased, "left alone");

    // A retry waiting for its time is busy too.
    let retry = SyncOutcome::Retry { at: at(60), errors: vec![error("email", "503", "busy")] };
    assert!(finish_one(&store, finish(&leased, retry, at(21))).await);
    let busy = store.claim_syncs_for_run(tenant_id, okta, &[record.id], at(30), at(70)).await.unwrap();
    assert_eq!(busy, vec![RunClaim::Busy { record_id: record.id }]);

    // A change arrives meanwhile; once the retry time has passed, the run
    // takes the sync over, and the change is still owed.
    let planner = TestPlanner::pending(&[okta], at(31), at(331));
    write(&store, tenant_id, vec![put("e1", json!({"n": 2}))], &planner, at(31)).await;
    let taken = claimed(store.claim_syncs_for_run(tenant_id, okta, &[record.id], at(60), at(90)).await.unwrap());
    let s = &taken[0].state;
    assert_eq!((s.status, s.claim, s.attempts, s.due_at), (SyncStatus::Syncing, leased.claim + 1, 1, Some(at(90))));
    assert!(s.changed_during_sync, "the change that arrived during the sync is still owed");
    assert_eq!(taken[0].record.fields, json!({"n": 2}));
}

pub async fn a_run_claims_deleted_records_and_answers_missing_ones(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let theirs_okta = integration(&store, globex.id, "Okta").await;
    let ids = quiet_records(&store, acme.id, &["live", "gone"]).await;
    let (live, gone) = (ids[0], ids[1]);
    write(&store, acme.id, vec![delete("gone")], &TestPlanner::quiet(), at(2)).await;
    let contractors = [put("c1", json!({}))];
    let contractor = store.write_records(acme.id, "contractor", &contractors, &TestPlanner::quiet(), at(1)).await;
    let contractor = contractor.unwrap().remove(0).record.id;
    let theirs = quiet_records(&store, globex.id, &["t1"]).await[0];
    let unknown = live.max(gone).max(contractor).max(theirs) + 1000;

    let answers =
        store.claim_syncs_for_run(acme.id, okta, &[gone, unknown, theirs, live, contractor], at(5), at(35)).await;
    let answers = answers.unwrap();
    assert_eq!(answers.len(), 5);
    let RunClaim::Claimed(deleted) = &answers[0] else { panic!("a deleted record is claimed: {answers:?}") };
    assert_eq!((deleted.record.id, deleted.record.deleted_at), (gone, Some(at(2))), "its deactivation is pushed");
    assert_eq!(deleted.state.status, SyncStatus::Syncing);
    assert_eq!(answers[1], RunClaim::Missing { record_id: unknown });
    assert_eq!(answers[2], RunClaim::Missing { record_id: theirs }, "another tenant's record");
    assert!(matches!(&answers[3], RunClaim::Claimed(c) if c.record.id == live));
    assert_eq!(answers[4], RunClaim::Missing { record_id: contractor }, "not of the integration's type");
    assert_eq!(states(&store, globex.id, theirs).await, vec![]);
    assert_eq!(states(&store, acme.id, contractor).await, vec![]);

    // Through another tenant's integration, or for another tenant, nothing is claimed.
    let through_theirs = store.claim_syncs_for_run(acme.id, theirs_okta, &[live], at(50), at(80)).await.unwrap();
    assert_eq!(through_theirs, vec![RunClaim::Missing { record_id: live }]);
    let as_them = store.claim_syncs_for_run(globex.id, okta, &[live], at(50), at(80)).await.unwrap();
    assert_eq!(as_them, vec![RunClaim::Missing { record_id: live }]);
    assert_eq!(states(&store, acme.id, live).await.iter().map(|s| s.claim).collect::<Vec<_>>(), vec![1]);
}

/// Record writes (large batches and single writes) race a run's claims of
/// the same records. Whatever the interleaving, no write is lost: a write
/// the claim did not see (a later version than the claimed record's) came
/// after the claim, so it found the state syncing under that claim or a
/// later one, and left the change owed to it.
pub async fn a_change_written_while_a_run_claims_is_owed_to_its_push(store: Arc<dyn Store>) {
    const KEYS: usize = 70; // beyond PostgreSQL's small-write path
    const ROUNDS: i64 = 15;
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("e{i:03}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let ids = quiet_records(&store, acme.id, &key_refs).await;

    let batches = {
        let (store, keys) = (store.clone(), keys.clone());
        tokio::spawn(async move {
            let mut written = Vec::new();
            for round in 1..=ROUNDS {
                let writes: Vec<_> = keys.iter().map(|k| put(k, json!({ "batch": round }))).collect();
                let planner = TestPlanner::pending(&[okta], at(round), at(10_000));
                written.extend(store.write_records(acme.id, EMPLOYEE, &writes, &planner, at(round)).await.unwrap());
            }
            written
        })
    };
    let singles = {
        let (store, keys) = (store.clone(), keys.clone());
        tokio::spawn(async move {
            let mut written = Vec::new();
            for round in 1..=ROUNDS {
                let writes = [put(&keys[round as usize % 3], json!({ "single": round }))];
                let planner = TestPlanner::pending(&[okta], at(round), at(10_000));
                written.extend(store.write_records(acme.id, EMPLOYEE, &writes, &planner, at(round)).await.unwrap());
            }
            written
        })
    };
    let mut claims = Vec::new();
    for round in 0..ROUNDS {
        // Each claim's lease ends when the next claim comes.
        let now = at(100 + round);
        claims.extend(claimed(
            store.claim_syncs_for_run(acme.id, okta, &ids, now, now + chrono::Duration::seconds(1)).await.unwrap(),
        ));
    }
    let mut writes = batches.await.unwrap();
    writes.extend(singles.await.unwrap());

    for claim in &claims {
        for w in writes.iter().filter(|w| w.record.id == claim.record.id && w.record.version > claim.record.version) {
            let seen = w.states.iter().find(|s| s.integration_id == okta).expect("every write plans okta");
            assert_eq!(seen.status, SyncStatus::Syncing, "a write after the claim finds it syncing: {w:?}");
            assert!(seen.claim >= claim.state.claim, "{seen:?} {claim:?}");
            assert!(seen.claim > claim.state.claim || seen.changed_during_sync, "the change is owed: {seen:?}");
        }
    }
    // And the last claim of each record pushes its last version, or owes the rest.
    for (id, s) in ids.iter().zip(store.sync_states_for_records(acme.id, &ids).await.unwrap()) {
        let last = claims.iter().rev().find(|c| c.record.id == *id).unwrap();
        let current = writes.iter().filter(|w| w.record.id == *id).map(|w| w.record.version).max().unwrap();
        assert_eq!(s.claim, last.state.claim);
        assert!(last.record.version == current || s.changed_during_sync, "record {id}: a change would be lost");
    }
}

pub async fn a_runs_results_store_fenced_finishes_with_its_log_and_counts(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let ids = quiet_records(&store, acme.id, &["a", "b", "c", "d"]).await;
    // The write sync holds "a"'s BambooHR state: not the run's to finish.
    let planner = TestPlanner::pending(&[bamboo], at(2), at(5));
    write(&store, acme.id, vec![put("a", json!({"n": 2}))], &planner, at(2)).await;
    let other = claim_all(&store, at(5), at(100)).await.remove(0).state;

    let run = start(&store, acme.id, okta, ada.id, 9).await;
    let claims = claimed(store.claim_syncs_for_run(acme.id, okta, &ids, at(10), at(40)).await.unwrap());
    let [a, b, c, d] = [&claims[0].state, &claims[1].state, &claims[2].state, &claims[3].state];
    // A change of "d" arrives during its push.
    let planner = TestPlanner::pending(&[okta], at(11), at(311));
    write(&store, acme.id, vec![put("d", json!({"n": 2}))], &planner, at(11)).await;

    let errors = vec![error("title", "invalidValue", "too long")];
    let mut stale = finish(c, SyncOutcome::Synced { remote_id: None }, at(12));
    stale.claim -= 1;
    let results = SyncRunResults {
        finishes: vec![
            finish(a, SyncOutcome::Synced { remote_id: Some("ra".into()) }, at(12)),
            finish(b, SyncOutcome::Failed { errors: errors.clone() }, at(12)),
            stale,
            finish(d, SyncOutcome::Synced { remote_id: Some("rd".into()) }, at(12)),
            finish(&other, SyncOutcome::Synced { remote_id: None }, at(12)),
        ],
        entries: vec![
            entry("a", ChangeAction::Create, LogOutcome::Succeeded, 12),
            entry("b", ChangeAction::Update, LogOutcome::Failed, 12),
            entry("d", ChangeAction::Update, LogOutcome::Succeeded, 12),
        ],
        counts: SyncRunCounts { created: 1, updated: 1, failed: 1, ..SyncRunCounts::default() },
    };
    let applied = store.record_sync_run_results(acme.id, run.id, results.clone()).await.unwrap();
    assert_eq!(
        applied,
        vec![true, true, false, true, false],
        "the stale claim and another integration's state are skipped"
    );

    // Each state as finish_syncs would have left it.
    let okta_state = |id: i64| {
        let store = store.clone();
        async move { state(&store, acme.id, id, okta).await }
    };
    let sa = okta_state(ids[0]).await;
    assert_eq!((sa.status, sa.remote_id.as_deref(), sa.last_synced_at), (SyncStatus::Synced, Some("ra"), Some(at(12))));
    let sb = okta_state(ids[1]).await;
    assert_eq!((sb.status, &sb.errors), (SyncStatus::Failed, &errors));
    assert_eq!(okta_state(ids[2]).await, c.clone(), "the stale finish left it syncing under the run's claim");
    let sd = okta_state(ids[3]).await;
    assert_eq!(
        (sd.status, sd.due_at, sd.attempts),
        (SyncStatus::Pending, Some(at(312)), 0),
        "the change is pushed next"
    );
    assert_eq!(state(&store, acme.id, ids[0], bamboo).await, other, "another integration's state is untouched");

    let log = store.list_sync_run_log(acme.id, run.id, None, None, 10).await.unwrap();
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    for (stored, added) in log.iter().zip(&results.entries) {
        assert_eq!(
            (&stored.external_id, stored.action, &stored.attributes),
            (&added.external_id, added.action, &added.attributes)
        );
        assert_eq!((stored.outcome, &stored.errors, stored.at), (added.outcome, &added.errors, added.at));
    }
    let counts = store.get_sync_run(acme.id, run.id).await.unwrap().unwrap().counts;
    assert_eq!(counts, results.counts);

    // A second batch: the log goes on from where it was, the counts add up.
    let retry = SyncOutcome::Retry { at: at(60), errors: errors.clone() };
    let more = SyncRunResults {
        finishes: vec![finish(c, retry, at(13))],
        entries: vec![entry("c", ChangeAction::Update, LogOutcome::Failed, 13)],
        counts: SyncRunCounts { failed: 1, unchanged: 2, ..SyncRunCounts::default() },
    };
    assert_eq!(store.record_sync_run_results(acme.id, run.id, more).await.unwrap(), vec![true]);
    let sc = okta_state(ids[2]).await;
    assert_eq!((sc.status, sc.due_at, sc.claim), (SyncStatus::Syncing, Some(at(60)), c.claim), "waits for its retry");
    let log = store.list_sync_run_log(acme.id, run.id, None, None, 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(log[3].external_id, "c");
    let counts = store.get_sync_run(acme.id, run.id).await.unwrap().unwrap().counts;
    assert_eq!(counts, SyncRunCounts { created: 1, updated: 1, deactivated: 0, unchanged: 2, failed: 2 });
}
