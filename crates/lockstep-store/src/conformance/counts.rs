//! The status counts against a full count: whatever changes a status —
//! creates, debounces, claims, every kind of finish, retries, a re-pend
//! after a change during a sync, record deletes, an integration delete, a
//! batch that stores nothing — `sync_status_counts` must equal what a read
//! of every state finds. A store keeps its counts as statuses change (so
//! that a scrape does not scan every state); this is what keeps them honest.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{RecordWrite, Store, StoreError, SyncOutcome, SyncStatus, Timestamp};

/// Enough keys for a store's large-batch path (PostgreSQL locks above 64).
const BATCH: usize = 70;

/// The tenants and records a case has written, to count their states by reading them.
struct Written {
    store: Arc<dyn Store>,
    records: BTreeMap<i64, Vec<i64>>,
}

impl Written {
    fn new(store: &Arc<dyn Store>) -> Self {
        Written { store: store.clone(), records: BTreeMap::new() }
    }

    /// Writes and remembers the records written.
    async fn write(&mut self, tenant_id: i64, writes: Vec<RecordWrite>, planner: &TestPlanner, now: Timestamp) {
        let written = write(&self.store, tenant_id, writes, planner, now).await;
        let ids = self.records.entry(tenant_id).or_default();
        ids.extend(written.iter().map(|w| w.record.id));
        ids.sort_unstable();
        ids.dedup();
    }

    /// Every state of every record written, counted by status.
    async fn full_count(&self) -> BTreeMap<SyncStatus, i64> {
        let mut counts = BTreeMap::new();
        for (tenant_id, ids) in &self.records {
            for state in self.store.sync_states_for_records(*tenant_id, ids).await.unwrap() {
                *counts.entry(state.status).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Asserts the kept counts equal a full count, and returns them.
    async fn counts_agree(&self, after: &str) -> BTreeMap<SyncStatus, i64> {
        let full = self.full_count().await;
        assert_eq!(status_counts(&self.store).await, full, "after {after}");
        full
    }
}

fn employees(range: std::ops::Range<usize>, n: i64) -> Vec<RecordWrite> {
    range.map(|i| put(&format!("e{i:03}"), json!({ "n": n }))).collect()
}

pub async fn sync_status_counts_equal_a_full_count_after_every_kind_of_change(store: Arc<dyn Store>) {
    use SyncStatus::{Failed, Pending, Synced, Syncing};
    let mut written = Written::new(&store);
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let workday = integration(&store, globex.id, "Workday").await;
    let both = [okta, bamboo];

    // Creates: a large batch and single writes, in two tenants.
    written.write(acme.id, employees(0..BATCH, 1), &TestPlanner::pending(&both, at(1), at(10)), at(1)).await;
    for i in 0..3 {
        let planner = TestPlanner::pending(&[workday], at(1), at(10));
        written.write(globex.id, vec![put(&format!("g{i}"), json!({"n": 1}))], &planner, at(1)).await;
    }
    let counts = written.counts_agree("creates").await;
    assert_eq!(counts, [(Pending, 2 * BATCH as i64 + 3)].into());

    // Debounces, large and small: nothing changes status.
    written.write(acme.id, employees(0..BATCH, 2), &TestPlanner::pending(&both, at(2), at(20)), at(2)).await;
    written.write(acme.id, employees(0..1, 3), &TestPlanner::pending(&both, at(3), at(30)), at(3)).await;
    written.counts_agree("debounces").await;

    // Claims: the states due at 20 (not e000 of acme, debounced to 30), and globex's.
    let claimed = claim_all(&store, at(20), at(50)).await;
    assert_eq!(claimed.len(), 2 * (BATCH - 1) + 3);
    written.counts_agree("claims").await;

    // A change during some syncs, then finishes of every outcome, one stale.
    let changed: Vec<RecordWrite> = employees(1..5, 4);
    written.write(acme.id, changed, &TestPlanner::pending(&both, at(21), at(321)), at(21)).await;
    let mut finishes = Vec::new();
    for (i, c) in claimed.iter().enumerate() {
        let outcome = match i % 4 {
            0 => SyncOutcome::Synced { remote_id: Some(format!("r{i}")) },
            1 => SyncOutcome::Failed { errors: vec![error("n", "invalid", "no")] },
            2 => SyncOutcome::Retry { at: at(40), errors: vec![] },
            _ => continue, // left syncing: its lease runs out below
        };
        finishes.push(finish(&c.state, outcome, at(22)));
    }
    let mut stale = finish(&claimed[3].state, SyncOutcome::Synced { remote_id: None }, at(22));
    stale.claim -= 1;
    finishes.push(stale);
    let applied = store.finish_syncs(finishes).await.unwrap();
    assert_eq!(applied.iter().filter(|a| !**a).count(), 1, "only the stale finish is refused");
    let counts = written.counts_agree("finishes and re-pends").await;
    assert!([Pending, Syncing, Synced, Failed].iter().all(|s| counts.get(s).is_some_and(|n| *n > 0)), "{counts:?}");

    // Explicit retries of failed syncs.
    let mut retried = 0;
    for c in claimed.iter().filter(|c| c.state.tenant_id == acme.id).take(12) {
        retried += store.retry_failed(acme.id, c.record.id, None, at(23)).await.unwrap();
    }
    assert!(retried > 0);
    written.counts_agree("retries").await;

    // Expired leases and retry times: claimed again (syncing stays syncing),
    // and everything else that is due.
    let reclaimed = claim_all(&store, at(60), at(90)).await;
    assert!(!reclaimed.is_empty());
    written.counts_agree("claims of expired leases").await;
    let synced: Vec<_> =
        reclaimed.iter().map(|c| finish(&c.state, SyncOutcome::Synced { remote_id: None }, at(61))).collect();
    store.finish_syncs(synced).await.unwrap();
    written.counts_agree("more finishes").await;

    // Record deletes: a large batch of them and a single one, each making
    // its states pending (a deactivation to push).
    let deletes: Vec<RecordWrite> = (0..BATCH).map(|i| delete(&format!("e{i:03}"))).collect();
    written.write(acme.id, deletes, &TestPlanner::pending(&both, at(62), at(70)), at(62)).await;
    let planner = TestPlanner::pending(&[workday], at(62), at(70));
    written.write(globex.id, vec![delete("g0")], &planner, at(62)).await;
    written.counts_agree("record deletes").await;

    // A batch that fails stores nothing, statuses included.
    let planner = TestPlanner::pending(&both, at(63), at(80));
    let batch = vec![put("new", json!({"n": 1})), put_expecting("e001", json!({"n": 9}), 99)];
    let refused = store.write_records(acme.id, EMPLOYEE, &batch, &planner, at(63)).await;
    assert!(matches!(refused, Err(StoreError::VersionConflict { .. })), "got {refused:?}");
    written.counts_agree("a refused batch").await;

    // An integration delete removes its states from the counts.
    assert!(store.delete_integration(acme.id, bamboo).await.unwrap());
    let counts = written.counts_agree("an integration delete").await;
    assert_eq!(counts.values().sum::<i64>(), BATCH as i64 + 3, "okta's and workday's states are left");
}

/// A Sync Now run changes statuses through its own claims and results:
/// states created for it, taken from every status, busy ones left alone,
/// and every kind of finish, in one transaction with its log.
pub async fn sync_status_counts_equal_a_full_count_after_a_runs_claims_and_results(store: Arc<dyn Store>) {
    use crate::{
        ChangeAction, LogOutcome, NewJob, NewSyncLogEntry, RunClaim, SyncRunCounts, SyncRunResults, SyncRunStart,
    };
    let mut written = Written::new(&store);
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;

    // Pending states, pushed by the write sync into every status; states
    // still pending; records with no state; a deleted record.
    written.write(acme.id, employees(0..BATCH, 1), &TestPlanner::pending(&[okta], at(1), at(10)), at(1)).await;
    let pushed = claim_all(&store, at(10), at(40)).await;
    let mut finishes = Vec::new();
    for (i, c) in pushed.iter().enumerate() {
        let outcome = match i % 3 {
            0 => SyncOutcome::Synced { remote_id: None },
            1 => SyncOutcome::Failed { errors: vec![error("n", "invalid", "no")] },
            _ => continue, // still syncing under its lease: busy for the run
        };
        finishes.push(finish(&c.state, outcome, at(11)));
    }
    store.finish_syncs(finishes).await.unwrap();
    let later = TestPlanner::pending(&[okta], at(12), at(500));
    written.write(acme.id, employees(BATCH..BATCH + 5, 1), &later, at(12)).await;
    written.write(acme.id, employees(BATCH + 5..BATCH + 10, 1), &TestPlanner::quiet(), at(12)).await;
    written.write(acme.id, vec![delete("e001")], &TestPlanner::quiet(), at(12)).await;
    written.counts_agree("the states before the run").await;

    let job = NewJob::new("sync_run", Some(acme.id), at(13));
    let Some(SyncRunStart::Started(run)) =
        store.create_sync_run(acme.id, okta, None, ada.id, job, at(13)).await.unwrap()
    else {
        panic!("the run starts");
    };
    let ids: Vec<i64> = written.records[&acme.id].clone();
    let answers = store.claim_syncs_for_run(acme.id, okta, &ids, at(20), at(60)).await.unwrap();
    let busy = answers.iter().filter(|a| matches!(a, RunClaim::Busy { .. })).count();
    assert_eq!(busy, pushed.len() / 3, "the states pushed and left syncing");
    written.counts_agree("a run's claims").await;

    let claimed: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            RunClaim::Claimed(c) => Some(c),
            _ => None,
        })
        .collect();
    // A change during some of the run's pushes (ending synced or failed
    // below, so back to pending), then every kind of finish, one stale.
    let changed = [0, 1, 4, 5].iter().map(|&i| put(&claimed[i].record.external_id, json!({ "n": 2 }))).collect();
    written.write(acme.id, changed, &TestPlanner::pending(&[okta], at(21), at(321)), at(21)).await;
    let mut finishes = Vec::new();
    let mut entries = Vec::new();
    for (i, c) in claimed.iter().enumerate() {
        let outcome = match i % 4 {
            0 => SyncOutcome::Synced { remote_id: Some(format!("r{i}")) },
            1 => SyncOutcome::Failed { errors: vec![error("n", "invalid", "no")] },
            2 => SyncOutcome::Retry { at: at(90), errors: vec![] },
            _ => continue, // left syncing: its lease runs out
        };
        let log_outcome =
            if matches!(outcome, SyncOutcome::Synced { .. }) { LogOutcome::Succeeded } else { LogOutcome::Failed };
        entries.push(NewSyncLogEntry {
            external_id: c.record.external_id.clone(),
            action: ChangeAction::Update,
            attributes: json!({}),
            outcome: log_outcome,
            errors: vec![],
            at: at(22),
        });
        finishes.push(finish(&c.state, outcome, at(22)));
    }
    let mut stale = finish(&claimed[3].state, SyncOutcome::Synced { remote_id: None }, at(22));
    stale.claim -= 1;
    finishes.push(stale);
    let results =
        SyncRunResults { finishes, entries, counts: SyncRunCounts { updated: 1, ..SyncRunCounts::default() } };
    let applied = store.record_sync_run_results(acme.id, run.id, results).await.unwrap();
    assert_eq!(applied.iter().filter(|a| !**a).count(), 1, "only the stale finish is skipped");
    let counts = written.counts_agree("a run's results").await;
    use SyncStatus::{Failed, Pending, Synced, Syncing};
    assert!([Pending, Syncing, Synced, Failed].iter().all(|s| counts.get(s).is_some_and(|n| *n > 0)), "{counts:?}");

    // Once the leases have passed, the run takes what was busy or left over.
    let again = store.claim_syncs_for_run(acme.id, okta, &ids, at(90), at(120)).await.unwrap();
    assert!(again.iter().all(|a| matches!(a, RunClaim::Claimed(_))), "nothing is busy any longer");
    written.counts_agree("a run's claims of expired leases").await;
}

pub async fn integration_status_counts_count_a_tenants_states_per_integration_and_status(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let idle = integration(&store, acme.id, "Idle").await;
    let theirs = integration(&store, globex.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta, bamboo], at(1), at(10));
    write(&store, acme.id, vec![put("e1", json!({ "n": 1 })), put("e2", json!({ "n": 1 }))], &planner, at(1)).await;
    write(&store, acme.id, vec![put("e3", json!({ "n": 1 }))], &planner, at(1)).await;
    let later = TestPlanner::pending(&[theirs], at(1), at(100));
    write(&store, globex.id, vec![put("g1", json!({ "n": 1 }))], &later, at(1)).await;

    // Six of acme's states claimed (globex's is not due yet), three finished.
    let claimed = claim_all(&store, at(10), at(70)).await;
    assert_eq!(claimed.len(), 6);
    let of = |integration_id: i64, external_id: &str| {
        let c =
            claimed.iter().find(|c| c.state.integration_id == integration_id && c.record.external_id == external_id);
        c.expect("claimed").state.clone()
    };
    let synced = SyncOutcome::Synced { remote_id: None };
    let failed = SyncOutcome::Failed { errors: vec![error("email", "invalid", "not an email")] };
    assert!(finish_one(&store, finish(&of(okta, "e1"), synced.clone(), at(20))).await);
    assert!(finish_one(&store, finish(&of(okta, "e2"), failed, at(20))).await);
    assert!(finish_one(&store, finish(&of(bamboo, "e1"), synced, at(20))).await);
    // A new record pending in Okta, and a deleted one: its deactivation is owed.
    let okta_only = TestPlanner::pending(&[okta], at(30), at(40));
    write(&store, acme.id, vec![put("e4", json!({ "n": 1 })), delete("e1")], &okta_only, at(30)).await;

    let counts = |tenant_id: i64| {
        let store = store.clone();
        async move {
            let counts = store.integration_status_counts(tenant_id).await.expect("integration_status_counts");
            let mut seen = BTreeMap::new();
            for (integration_id, status, count) in counts {
                assert!(count > 0, "zeros are left out");
                assert!(seen.insert((integration_id, status), count).is_none(), "listed once");
            }
            seen
        }
    };
    let expected = BTreeMap::from([
        ((okta, SyncStatus::Pending), 2),
        ((okta, SyncStatus::Syncing), 1),
        ((okta, SyncStatus::Failed), 1),
        ((bamboo, SyncStatus::Synced), 1),
        ((bamboo, SyncStatus::Syncing), 2),
    ]);
    assert_eq!(counts(acme.id).await, expected, "{idle} has no states and is left out");
    assert_eq!(counts(globex.id).await, BTreeMap::from([((theirs, SyncStatus::Pending), 1)]));
    assert_eq!(counts(globex.id + 1000).await, BTreeMap::new());

    // A deleted integration's states go with it.
    assert!(store.delete_integration(acme.id, bamboo).await.unwrap());
    let mut left = expected;
    left.retain(|(integration_id, _), _| *integration_id == okta);
    assert_eq!(counts(acme.id).await, left);
}
