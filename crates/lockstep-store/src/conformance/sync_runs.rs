//! Cases for Sync Now runs: creation with its job, one running run per
//! integration (concurrent creates too), its log, its end and the
//! notification it may create, and tenants apart. The sync states a run
//! claims and finishes are in `run_claims`; the helpers here serve both.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{
    ChangeAction, ClaimedSync, EmailState, LogOutcome, NewJob, NewNotification, NewSyncLogEntry, RunClaim, Store,
    SyncOutcome, SyncRun, SyncRunCounts, SyncRunResults, SyncRunStart, SyncRunStatus, SyncState, TargetType,
};

/// The job a run's creation enqueues.
pub fn run_job(tenant_id: i64) -> NewJob {
    NewJob::new("sync_run", Some(tenant_id), at(0))
}

/// Starts a run of `integration_id` at `at(secs)`; panics unless it started.
pub(super) async fn start(
    store: &Arc<dyn Store>,
    tenant_id: i64,
    integration_id: i64,
    admin_id: i64,
    secs: i64,
) -> SyncRun {
    match store.create_sync_run(tenant_id, integration_id, None, admin_id, run_job(tenant_id), at(secs)).await {
        Ok(Some(SyncRunStart::Started(run))) => run,
        other => panic!("the run did not start: {other:?}"),
    }
}

/// Ends a run as succeeded at `at(secs)`, with no notification.
pub(super) async fn end(store: &Arc<dyn Store>, run: &SyncRun, secs: i64) -> SyncRun {
    let ended = store.finish_sync_run(run.tenant_id, run.id, SyncRunStatus::Succeeded, None, None, at(secs)).await;
    ended.unwrap().expect("a running run ends")
}

/// The claims of a run's answers; panics on any other answer.
pub(super) fn claimed(answers: Vec<RunClaim>) -> Vec<ClaimedSync> {
    answers
        .into_iter()
        .map(|answer| match answer {
            RunClaim::Claimed(claim) => claim,
            other => panic!("expected a claim, got {other:?}"),
        })
        .collect()
}

pub(super) fn entry(external_id: &str, action: ChangeAction, outcome: LogOutcome, secs: i64) -> NewSyncLogEntry {
    let errors = match outcome {
        LogOutcome::Succeeded => vec![],
        LogOutcome::Failed => vec![error("title", "invalidValue", "too long")],
    };
    NewSyncLogEntry {
        external_id: external_id.to_string(),
        action,
        attributes: json!({ "userName": format!("{external_id}@acme.test"), "active": action != ChangeAction::Deactivate }),
        outcome,
        errors,
        at: at(secs),
    }
}

pub(super) fn only_entries(entries: Vec<NewSyncLogEntry>) -> SyncRunResults {
    SyncRunResults { entries, ..SyncRunResults::default() }
}

fn complete_notification(admin_id: i64, run_id: i64, email: Option<NewJob>) -> NewNotification {
    NewNotification {
        admin_id,
        kind: "sync_complete".to_string(),
        target_type: TargetType::SyncRun,
        target_id: run_id,
        in_app: true,
        email_job: email,
    }
}

/// Writes records of employees with no sync state; returns their ids.
pub(super) async fn quiet_records(store: &Arc<dyn Store>, tenant_id: i64, keys: &[&str]) -> Vec<i64> {
    let writes = keys.iter().map(|k| put(k, json!({ "n": 1 }))).collect();
    write(store, tenant_id, writes, &TestPlanner::quiet(), at(1)).await.iter().map(|w| w.record.id).collect()
}

pub async fn a_sync_run_is_created_running_with_its_job(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = store.create_overview(acme.id, okta, ada.id, super::overviews::overview_job(acme.id), at(1));
    let overview = overview.await.unwrap().unwrap();
    let start = store.create_sync_run(acme.id, okta, Some(overview.id), ada.id, run_job(acme.id), at(5)).await;
    let Ok(Some(SyncRunStart::Started(run))) = start else { panic!("the run did not start: {start:?}") };
    assert_eq!((run.tenant_id, run.integration_id, run.overview_id), (acme.id, okta, Some(overview.id)));
    assert_eq!((run.started_by, run.started_at, run.finished_at), (ada.id, at(5), None));
    assert_eq!((run.status, run.error.as_deref()), (SyncRunStatus::Running, None));
    assert_eq!(run.counts, SyncRunCounts::default());
    assert!(!run.backgrounded);
    assert_eq!(store.get_sync_run(acme.id, run.id).await.unwrap(), Some(run.clone()));
    one_queued_job(&store, "sync_run", acme.id, run.id, at(0)).await;
}

pub async fn a_sync_run_of_an_absent_integration_is_not_created(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let theirs = integration(&store, globex.id, "Okta").await;
    let start = store.create_sync_run(acme.id, theirs, None, ada.id, run_job(acme.id), at(1)).await;
    assert_eq!(start.unwrap(), None);
    let start = store.create_sync_run(acme.id, theirs + 1000, None, ada.id, run_job(acme.id), at(1)).await;
    assert_eq!(start.unwrap(), None);
    assert_eq!(store.list_sync_runs(globex.id, theirs, None, 10).await.unwrap(), vec![], "none for theirs either");
    assert_eq!(store.next_job_due_at("sync_run").await.unwrap(), None, "no job was enqueued");
}

pub async fn one_sync_run_runs_per_integration_at_a_time(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme"), at(0)).await.unwrap();
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let first = start(&store, acme.id, okta, ada.id, 1).await;

    // Whoever asks, the running run is the answer, and nothing is created.
    let second = store.create_sync_run(acme.id, okta, None, grace.id, run_job(acme.id), at(2)).await.unwrap();
    assert_eq!(second, Some(SyncRunStart::AlreadyRunning(first.clone())));
    let first_job = one_queued_job(&store, "sync_run", acme.id, first.id, at(0)).await;
    // Nor any other sync_run job, on another subject or none: claiming
    // every one that is due finds only the first's.
    let jobs = store.claim_jobs("sync_run", 100, 100, at(2), at(60)).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![first_job.id], "{jobs:?}");
    start(&store, acme.id, bamboo, ada.id, 2).await;

    // Once it has ended, the next one starts.
    end(&store, &first, 3).await;
    let next = start(&store, acme.id, okta, grace.id, 4).await;
    assert!(next.id > first.id);
    let runs: Vec<i64> = store.list_sync_runs(acme.id, okta, None, 10).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(runs, vec![next.id, first.id]);
}

pub async fn concurrent_sync_run_creates_start_exactly_one(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let creates: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { store.create_sync_run(acme.id, okta, None, ada.id, run_job(acme.id), at(1)).await },
            )
        })
        .collect();
    let mut started = Vec::new();
    let mut running = Vec::new();
    for create in creates {
        match create.await.unwrap().expect("create_sync_run") {
            Some(SyncRunStart::Started(run)) => started.push(run),
            Some(SyncRunStart::AlreadyRunning(run)) => running.push(run),
            None => panic!("the integration exists"),
        }
    }
    assert_eq!(started.len(), 1, "exactly one started: {started:?}");
    assert!(running.iter().all(|r| r.id == started[0].id), "the others got it: {running:?}");
    assert_eq!(store.list_sync_runs(acme.id, okta, None, 10).await.unwrap(), started);
}

pub async fn a_runs_log_is_paged_and_filtered_by_outcome(store: Arc<dyn Store>) {
    use LogOutcome::{Failed, Succeeded};
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let run = start(&store, acme.id, okta, ada.id, 1).await;
    let first = vec![entry("e1", ChangeAction::Create, Succeeded, 2), entry("e2", ChangeAction::Update, Failed, 3)];
    let second = vec![
        entry("e3", ChangeAction::Deactivate, Succeeded, 4),
        entry("e4", ChangeAction::Create, Failed, 5),
        entry("e5", ChangeAction::Update, Succeeded, 6),
    ];
    assert_eq!(store.record_sync_run_results(acme.id, run.id, only_entries(first)).await.unwrap(), Vec::<bool>::new());
    assert_eq!(store.record_sync_run_results(acme.id, run.id, only_entries(second)).await.unwrap(), Vec::<bool>::new());

    let page = |outcome: Option<LogOutcome>, after: Option<i64>, limit: u32| {
        let store = store.clone();
        async move {
            let log = store.list_sync_run_log(acme.id, run.id, outcome, after, limit).await.unwrap();
            log.iter().map(|e| (e.seq, e.external_id.clone())).collect::<Vec<_>>()
        }
    };
    let ids = |pairs: &[(i64, &str)]| pairs.iter().map(|(s, e)| (*s, e.to_string())).collect::<Vec<_>>();
    assert_eq!(page(None, None, 2).await, ids(&[(1, "e1"), (2, "e2")]));
    assert_eq!(page(None, Some(2), 2).await, ids(&[(3, "e3"), (4, "e4")]));
    assert_eq!(page(None, Some(4), 2).await, ids(&[(5, "e5")]));
    assert_eq!(page(None, Some(5), 2).await, vec![]);
    assert_eq!(page(Some(Failed), None, 10).await, ids(&[(2, "e2"), (4, "e4")]));
    assert_eq!(page(Some(Failed), Some(2), 10).await, ids(&[(4, "e4")]));
    assert_eq!(page(Some(Succeeded), None, 2).await, ids(&[(1, "e1"), (3, "e3")]));
    assert_eq!(page(Some(Succeeded), Some(3), 2).await, ids(&[(5, "e5")]));

    // The log outlives the run, and its integration.
    end(&store, &run, 7).await;
    assert!(store.delete_integration(acme.id, okta).await.unwrap());
    assert_eq!(page(None, None, 10).await.len(), 5);
    assert_eq!(store.get_sync_run(acme.id, run.id).await.unwrap().unwrap().status, SyncRunStatus::Succeeded);
}

pub async fn results_of_a_run_that_has_ended_store_nothing(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let ids = quiet_records(&store, acme.id, &["e1"]).await;
    let run = start(&store, acme.id, okta, ada.id, 1).await;
    let claims = claimed(store.claim_syncs_for_run(acme.id, okta, &ids, at(10), at(40)).await.unwrap());
    let ended = store.finish_sync_run(acme.id, run.id, SyncRunStatus::Failed, Some("stopped".into()), None, at(11));
    let ended = ended.await.unwrap().unwrap();

    let late = SyncRunResults {
        finishes: vec![finish(&claims[0].state, SyncOutcome::Synced { remote_id: None }, at(12))],
        entries: vec![entry("e1", ChangeAction::Create, LogOutcome::Succeeded, 12)],
        counts: SyncRunCounts { created: 1, ..SyncRunCounts::default() },
    };
    assert_eq!(store.record_sync_run_results(acme.id, run.id, late.clone()).await.unwrap(), vec![false]);
    assert_eq!(state(&store, acme.id, ids[0], okta).await, claims[0].state, "the state is left to its lease");
    assert_eq!(store.list_sync_run_log(acme.id, run.id, None, None, 10).await.unwrap(), vec![]);
    assert_eq!(store.get_sync_run(acme.id, run.id).await.unwrap(), Some(ended));
    let absent = store.record_sync_run_results(acme.id, run.id + 1000, late).await.unwrap();
    assert_eq!(absent, vec![false]);
}

pub async fn a_sync_run_ends_once_and_notifies_only_in_the_background(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;

    // Waited for: no notification, even when given one.
    let waited = start(&store, acme.id, okta, ada.id, 1).await;
    let notification = complete_notification(ada.id, waited.id, None);
    let ended = store.finish_sync_run(acme.id, waited.id, SyncRunStatus::Succeeded, None, Some(notification), at(2));
    let ended = ended.await.unwrap().unwrap();
    assert_eq!((ended.status, ended.finished_at, ended.backgrounded), (SyncRunStatus::Succeeded, Some(at(2)), false));
    assert_eq!(store.get_sync_run(acme.id, waited.id).await.unwrap(), Some(ended.clone()));
    assert_eq!(notifications_about(&store, acme.id, ada.id, TargetType::SyncRun, waited.id).await, vec![]);

    // Only once.
    let again = store.finish_sync_run(acme.id, waited.id, SyncRunStatus::Failed, Some("late".into()), None, at(3));
    assert_eq!(again.await.unwrap(), None);
    assert_eq!(store.get_sync_run(acme.id, waited.id).await.unwrap(), Some(ended));
    assert!(!store.background_sync_run(acme.id, waited.id).await.unwrap(), "it ended first");

    // Moved to the background: its end notifies, with the email job.
    let backgrounded = start(&store, acme.id, okta, ada.id, 4).await;
    assert!(store.background_sync_run(acme.id, backgrounded.id).await.unwrap());
    let email = NewJob::new("notification_email", Some(acme.id), at(300));
    let notification = complete_notification(ada.id, backgrounded.id, Some(email));
    let ended = store
        .finish_sync_run(acme.id, backgrounded.id, SyncRunStatus::PartiallyFailed, None, Some(notification), at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ended.status, ended.backgrounded), (SyncRunStatus::PartiallyFailed, true));
    let told = notifications_about(&store, acme.id, ada.id, TargetType::SyncRun, backgrounded.id).await;
    assert_eq!(told.len(), 1, "one notification: {told:?}");
    let complete = &told[0];
    assert_eq!((complete.tenant_id, complete.admin_id, complete.kind.as_str()), (acme.id, ada.id, "sync_complete"));
    assert_eq!((complete.in_app, complete.created_at, complete.seen_at), (true, at(5), None));
    assert_eq!((complete.email, complete.emailed_at), (EmailState::Pending, None));
    one_queued_job(&store, "notification_email", acme.id, complete.id, at(300)).await;

    // A failed run keeps why.
    let failed = start(&store, acme.id, okta, ada.id, 6).await;
    assert!(store.background_sync_run(acme.id, failed.id).await.unwrap());
    let why = Some("the third party refused the credentials".to_string());
    let notification =
        NewNotification { kind: "sync_run_failed".into(), ..complete_notification(ada.id, failed.id, None) };
    let ended =
        store.finish_sync_run(acme.id, failed.id, SyncRunStatus::Failed, why.clone(), Some(notification), at(7));
    let ended = ended.await.unwrap().unwrap();
    assert_eq!((ended.status, ended.error, ended.backgrounded), (SyncRunStatus::Failed, why, true));
}

/// As for overviews: a run backgrounded just as it ends is either seen so
/// by its end, or told it ended first.
pub async fn backgrounding_and_ending_a_run_at_once_agree_on_who_tells_the_admin(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    for round in 0..12 {
        let run = start(&store, acme.id, okta, ada.id, round).await;
        let backgrounding = {
            let store = store.clone();
            tokio::spawn(async move { store.background_sync_run(acme.id, run.id).await.unwrap() })
        };
        let notification = complete_notification(ada.id, run.id, None);
        let ended = store
            .finish_sync_run(acme.id, run.id, SyncRunStatus::Succeeded, None, Some(notification), at(round))
            .await
            .unwrap()
            .expect("it was running");
        let backgrounded = backgrounding.await.unwrap();
        assert_eq!(ended.backgrounded, backgrounded, "round {round}: the end and the background disagree");
        let told = notifications_about(&store, acme.id, ada.id, TargetType::SyncRun, run.id).await;
        assert_eq!(told.len(), usize::from(backgrounded), "round {round}: notified iff backgrounded: {told:?}");
    }
}

pub async fn list_sync_runs_lists_newest_first_before_the_cursor(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let mut runs = Vec::new();
    for i in 0..5 {
        let run = start(&store, acme.id, okta, ada.id, i).await;
        runs.push(end(&store, &run, i).await);
    }
    start(&store, acme.id, bamboo, ada.id, 9).await;
    let newest_first: Vec<SyncRun> = runs.iter().rev().cloned().collect();

    assert_eq!(store.list_sync_runs(acme.id, okta, None, 2).await.unwrap(), newest_first[..2].to_vec());
    let page = store.list_sync_runs(acme.id, okta, Some(newest_first[1].id), 2).await.unwrap();
    assert_eq!(page, newest_first[2..4].to_vec());
    let page = store.list_sync_runs(acme.id, okta, Some(newest_first[3].id), 2).await.unwrap();
    assert_eq!(page, newest_first[4..].to_vec());
    assert_eq!(store.list_sync_runs(acme.id, okta, Some(runs[0].id), 2).await.unwrap(), vec![]);
    assert_eq!(store.list_sync_runs(acme.id, bamboo, None, 10).await.unwrap().len(), 1);
}

pub async fn another_tenants_sync_runs_and_logs_are_absent(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, grace) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let ids = quiet_records(&store, acme.id, &["e1"]).await;
    let run = start(&store, acme.id, okta, ada.id, 1).await;
    let claims = claimed(store.claim_syncs_for_run(acme.id, okta, &ids, at(2), at(40)).await.unwrap());
    let first = only_entries(vec![entry("e1", ChangeAction::Create, LogOutcome::Succeeded, 3)]);
    store.record_sync_run_results(acme.id, run.id, first).await.unwrap();

    assert_eq!(store.get_sync_run(globex.id, run.id).await.unwrap(), None);
    assert_eq!(store.list_sync_runs(globex.id, okta, None, 10).await.unwrap(), vec![]);
    assert_eq!(store.list_sync_run_log(globex.id, run.id, None, None, 10).await.unwrap(), vec![]);
    let start = store.create_sync_run(globex.id, okta, None, grace.id, run_job(globex.id), at(4)).await;
    assert_eq!(start.unwrap(), None, "their integration is not ours to run");
    let theirs = SyncRunResults {
        finishes: vec![finish(&claims[0].state, SyncOutcome::Failed { errors: vec![] }, at(4))],
        entries: vec![entry("intruder", ChangeAction::Create, LogOutcome::Succeeded, 4)],
        counts: SyncRunCounts { created: 5, ..SyncRunCounts::default() },
    };
    assert_eq!(store.record_sync_run_results(globex.id, run.id, theirs).await.unwrap(), vec![false]);
    assert!(!store.background_sync_run(globex.id, run.id).await.unwrap());
    let finish = store.finish_sync_run(globex.id, run.id, SyncRunStatus::Failed, None, None, at(5));
    assert_eq!(finish.await.unwrap(), None);

    // Untouched for its own tenant.
    assert_eq!(store.get_sync_run(acme.id, run.id).await.unwrap(), Some(run.clone()));
    assert_eq!(store.list_sync_run_log(acme.id, run.id, None, None, 10).await.unwrap().len(), 1);
    let s: SyncState = state(&store, acme.id, ids[0], okta).await;
    assert_eq!(s, claims[0].state);
}
