//! Cases for Sync Overviews: creation with its job, what a read computes
//! (superseded, integration gone), changes added by page and read back by
//! page, the end of an overview and the notification it may create, and
//! tenants apart.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{
    ChangeAction, EmailState, NewJob, NewNotification, Overview, OverviewChange, OverviewStatus, OverviewSummary,
    Store, TargetType,
};

/// The job an overview's creation enqueues.
pub fn overview_job(tenant_id: i64) -> NewJob {
    NewJob::new("overview", Some(tenant_id), at(0))
}

/// Starts an overview of `integration_id` by `admin_id` at `at(secs)`; panics when absent.
async fn start(store: &Arc<dyn Store>, tenant_id: i64, integration_id: i64, admin_id: i64, secs: i64) -> Overview {
    store
        .create_overview(tenant_id, integration_id, admin_id, overview_job(tenant_id), at(secs))
        .await
        .expect("create_overview")
        .expect("the integration exists")
}

fn change(seq: i64, action: ChangeAction, external_id: &str) -> OverviewChange {
    OverviewChange {
        seq,
        action,
        external_id: external_id.to_string(),
        remote_id: (action != ChangeAction::Create).then(|| format!("remote-{external_id}")),
        detail: json!({ "seq": seq, "attributes": { "title": ["Engineer", "Manager"] } }),
    }
}

/// The notification an overview's end creates when backgrounded.
pub fn ready_notification(admin_id: i64, overview_id: i64, email: Option<NewJob>) -> NewNotification {
    NewNotification {
        admin_id,
        kind: "sync_overview_ready".to_string(),
        target_type: TargetType::Overview,
        target_id: overview_id,
        in_app: true,
        email_job: email,
    }
}

fn summary() -> OverviewSummary {
    OverviewSummary { create: 3, update: 2, deactivate: 1, error: 1, unchanged: 40, unmanaged: 5 }
}

pub async fn an_overview_is_created_running_with_its_job(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = start(&store, acme.id, okta, ada.id, 5).await;
    assert_eq!((overview.tenant_id, overview.integration_id, overview.created_by), (acme.id, okta, ada.id));
    assert_eq!((overview.created_at, overview.finished_at), (at(5), None));
    assert_eq!(overview.status, OverviewStatus::Running);
    assert_eq!((&overview.error, overview.summary), (&None, OverviewSummary::default()));
    assert!(!overview.backgrounded);
    assert_eq!(overview.superseded_by, None, "the newest of its integration");
    assert!(overview.integration_exists);
    assert_eq!(store.get_overview(acme.id, overview.id).await.unwrap(), Some(overview.clone()));
    one_queued_job(&store, "overview", acme.id, overview.id, at(0)).await;

    // Each overview's job is keyed by its own subject: a second creation
    // with the same job does not collide with the first's.
    let second = start(&store, acme.id, okta, ada.id, 6).await;
    assert!(second.id > overview.id, "ids grow");
    one_queued_job(&store, "overview", acme.id, second.id, at(0)).await;
    one_queued_job(&store, "overview", acme.id, overview.id, at(0)).await;
}

pub async fn an_overview_of_an_absent_integration_is_not_created(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let theirs = integration(&store, globex.id, "Okta").await;
    let job = overview_job(acme.id);
    assert_eq!(store.create_overview(acme.id, theirs, ada.id, job.clone(), at(1)).await.unwrap(), None);
    assert_eq!(store.create_overview(acme.id, theirs + 1000, ada.id, job, at(1)).await.unwrap(), None);
    assert_eq!(store.next_job_due_at("overview").await.unwrap(), None, "no job was enqueued for either");
}

pub async fn a_newer_overview_supersedes_the_older_one_whoever_started_it(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme"), at(0)).await.unwrap();
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let first = start(&store, acme.id, okta, ada.id, 1).await;
    let elsewhere = start(&store, acme.id, bamboo, ada.id, 2).await;

    // Another admin's overview of the same integration supersedes Ada's.
    let second = start(&store, acme.id, okta, grace.id, 3).await;
    assert_eq!(second.superseded_by, None);
    let read = store.get_overview(acme.id, first.id).await.unwrap().unwrap();
    assert_eq!(read.superseded_by, Some(second.id));
    assert_eq!(read.created_at, at(1), "nothing else of it changes");

    // And a third, Ada's again, supersedes both.
    let third = start(&store, acme.id, okta, ada.id, 4).await;
    let mut read = store.overviews_by_ids(acme.id, &[first.id, second.id, third.id, elsewhere.id]).await.unwrap();
    read.sort_by_key(|o| o.id);
    let superseded: Vec<Option<i64>> = read.iter().map(|o| o.superseded_by).collect();
    assert_eq!(superseded, vec![Some(third.id), None, Some(third.id), None]);
    assert_eq!(read[2].id, second.id);

    // Ending an overview does not make it newer.
    let ended = store
        .finish_overview(acme.id, second.id, OverviewStatus::Ready, summary(), None, None, at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.superseded_by, Some(third.id));

    // Once the integration is deleted, its overviews say so.
    assert!(store.delete_integration(acme.id, okta).await.unwrap());
    let gone = store.get_overview(acme.id, third.id).await.unwrap().unwrap();
    assert!(!gone.integration_exists);
    assert_eq!(gone.superseded_by, None);
    assert!(store.get_overview(acme.id, elsewhere.id).await.unwrap().unwrap().integration_exists);
}

pub async fn list_overviews_lists_newest_first_before_the_cursor_as_they_are_read_one_by_one(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, hal) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let theirs = integration(&store, globex.id, "Okta").await;
    let mut ids = Vec::new();
    for secs in 0..4 {
        ids.push(start(&store, acme.id, okta, ada.id, secs).await.id);
    }
    start(&store, acme.id, bamboo, ada.id, 9).await;
    start(&store, globex.id, theirs, hal.id, 9).await;
    let mut newest_first = Vec::new();
    for id in ids.iter().rev() {
        newest_first.push(store.get_overview(acme.id, *id).await.unwrap().unwrap());
    }
    assert_eq!(newest_first[0].superseded_by, None);
    assert!(newest_first[1..].iter().all(|o| o.superseded_by == Some(ids[3])), "the newest supersedes the rest");

    assert_eq!(store.list_overviews(acme.id, okta, None, 2).await.unwrap(), newest_first[..2].to_vec());
    let page = store.list_overviews(acme.id, okta, Some(newest_first[1].id), 2).await.unwrap();
    assert_eq!(page, newest_first[2..].to_vec());
    assert_eq!(store.list_overviews(acme.id, okta, Some(ids[0]), 2).await.unwrap(), vec![]);
    assert_eq!(store.list_overviews(acme.id, bamboo, None, 10).await.unwrap().len(), 1);

    // Another tenant's integration lists nothing, whichever way round.
    assert_eq!(store.list_overviews(acme.id, theirs, None, 10).await.unwrap(), vec![]);
    assert_eq!(store.list_overviews(globex.id, okta, None, 10).await.unwrap(), vec![]);

    // Overviews outlive their integration, and are listed saying so.
    assert!(store.delete_integration(acme.id, okta).await.unwrap());
    let listed = store.list_overviews(acme.id, okta, None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), ids.iter().rev().copied().collect::<Vec<_>>());
    assert!(listed.iter().all(|o| !o.integration_exists));
    assert_eq!(Some(listed[1].clone()), store.get_overview(acme.id, ids[2]).await.unwrap());
}

pub async fn overview_changes_are_paged_in_seq_order_and_filtered_by_action(store: Arc<dyn Store>) {
    use ChangeAction::{Create, Deactivate, Error, Update};
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = start(&store, acme.id, okta, ada.id, 1).await;
    assert_eq!(store.last_overview_seq(acme.id, overview.id).await.unwrap(), 0, "none yet");

    let actions = [Create, Update, Update, Deactivate, Error, Create, Update];
    let all: Vec<OverviewChange> =
        actions.iter().enumerate().map(|(i, a)| change(i as i64 + 1, *a, &format!("e{i}"))).collect();
    // Two pages, the second added first: pages come back in seq order.
    assert!(store.add_overview_changes(acme.id, overview.id, all[4..].to_vec()).await.unwrap());
    assert!(store.add_overview_changes(acme.id, overview.id, all[..4].to_vec()).await.unwrap());
    assert_eq!(store.last_overview_seq(acme.id, overview.id).await.unwrap(), 7);

    let page = store.list_overview_changes(acme.id, overview.id, None, None, 3).await.unwrap();
    assert_eq!(page, all[..3].to_vec(), "every column as added");
    let page = store.list_overview_changes(acme.id, overview.id, None, Some(3), 3).await.unwrap();
    assert_eq!(page, all[3..6].to_vec());
    let page = store.list_overview_changes(acme.id, overview.id, None, Some(6), 3).await.unwrap();
    assert_eq!(page, all[6..].to_vec());
    assert_eq!(store.list_overview_changes(acme.id, overview.id, None, Some(7), 3).await.unwrap(), vec![]);

    let seqs = |changes: Vec<OverviewChange>| changes.iter().map(|c| c.seq).collect::<Vec<_>>();
    let updates = store.list_overview_changes(acme.id, overview.id, Some(Update), None, 2).await.unwrap();
    assert_eq!(seqs(updates), vec![2, 3]);
    let updates = store.list_overview_changes(acme.id, overview.id, Some(Update), Some(3), 2).await.unwrap();
    assert_eq!(seqs(updates), vec![7]);
    let errors = store.list_overview_changes(acme.id, overview.id, Some(Error), None, 10).await.unwrap();
    assert_eq!(errors, vec![all[4].clone()]);

    // Another overview's changes are its own.
    let other = start(&store, acme.id, okta, ada.id, 2).await;
    assert_eq!(store.list_overview_changes(acme.id, other.id, None, None, 10).await.unwrap(), vec![]);
    assert_eq!(store.last_overview_seq(acme.id, other.id).await.unwrap(), 0);
}

pub async fn adding_a_change_again_by_its_seq_stores_nothing(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = start(&store, acme.id, okta, ada.id, 1).await;
    let first = vec![change(1, ChangeAction::Create, "e1"), change(2, ChangeAction::Update, "e2")];
    assert!(store.add_overview_changes(acme.id, overview.id, first.clone()).await.unwrap());

    // A resumed run adds the page again, with a new change after it.
    let mut again = vec![change(2, ChangeAction::Error, "other"), change(3, ChangeAction::Deactivate, "e3")];
    again[0].detail = json!({ "changed": true });
    assert!(store.add_overview_changes(acme.id, overview.id, again.clone()).await.unwrap());
    let stored = store.list_overview_changes(acme.id, overview.id, None, None, 10).await.unwrap();
    assert_eq!(stored, vec![first[0].clone(), first[1].clone(), again[1].clone()], "seq 2 is kept as first added");
    assert_eq!(store.last_overview_seq(acme.id, overview.id).await.unwrap(), 3);
}

pub async fn changes_are_refused_once_the_overview_has_ended(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = start(&store, acme.id, okta, ada.id, 1).await;
    assert!(store
        .add_overview_changes(acme.id, overview.id, vec![change(1, ChangeAction::Create, "e1")])
        .await
        .unwrap());
    store.finish_overview(acme.id, overview.id, OverviewStatus::Ready, summary(), None, None, at(2)).await.unwrap();

    let late = vec![change(2, ChangeAction::Update, "e2")];
    assert!(!store.add_overview_changes(acme.id, overview.id, late).await.unwrap());
    assert_eq!(store.list_overview_changes(acme.id, overview.id, None, None, 10).await.unwrap().len(), 1);
    assert_eq!(store.last_overview_seq(acme.id, overview.id).await.unwrap(), 1);
    // An overview that does not exist takes none either.
    let absent = vec![change(1, ChangeAction::Update, "e2")];
    assert!(!store.add_overview_changes(acme.id, overview.id + 1000, absent).await.unwrap());
}

pub async fn an_overview_ends_once_with_its_summary_or_its_error(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let ready = start(&store, acme.id, okta, ada.id, 1).await;
    let failed = start(&store, acme.id, okta, ada.id, 2).await;

    let ended = store
        .finish_overview(acme.id, ready.id, OverviewStatus::Ready, summary(), None, None, at(10))
        .await
        .unwrap()
        .expect("a running overview ends");
    assert_eq!((ended.status, ended.summary, ended.finished_at), (OverviewStatus::Ready, summary(), Some(at(10))));
    assert_eq!((ended.created_at, ended.error.as_deref()), (at(1), None));
    assert_eq!(store.get_overview(acme.id, ready.id).await.unwrap(), Some(ended.clone()));

    let error = Some("the third party refused the credentials".to_string());
    let ended_failed = store
        .finish_overview(
            acme.id,
            failed.id,
            OverviewStatus::Failed,
            OverviewSummary::default(),
            error.clone(),
            None,
            at(11),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ended_failed.status, ended_failed.error), (OverviewStatus::Failed, error));

    // Only once: the first end stands, and the overview can no longer be backgrounded.
    let again = store.finish_overview(acme.id, ready.id, OverviewStatus::Failed, summary(), None, None, at(12)).await;
    assert_eq!(again.unwrap(), None);
    assert_eq!(store.get_overview(acme.id, ready.id).await.unwrap(), Some(ended));
    assert!(!store.background_overview(acme.id, ready.id).await.unwrap(), "it ended first");
    let absent = store.finish_overview(acme.id, ready.id + 1000, OverviewStatus::Ready, summary(), None, None, at(12));
    assert_eq!(absent.await.unwrap(), None);
}

pub async fn an_overview_that_ends_in_the_background_notifies_its_admin(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;

    // Waited for: its end creates no notification, even when given one.
    let waited = start(&store, acme.id, okta, ada.id, 1).await;
    let notification = ready_notification(ada.id, waited.id, None);
    let ended = store
        .finish_overview(acme.id, waited.id, OverviewStatus::Ready, summary(), None, Some(notification), at(2))
        .await
        .unwrap()
        .unwrap();
    assert!(!ended.backgrounded);
    assert_eq!(notifications_about(&store, acme.id, ada.id, TargetType::Overview, waited.id).await, vec![]);

    // Moved to the background: its end notifies, with the email job.
    let backgrounded = start(&store, acme.id, okta, ada.id, 3).await;
    assert!(store.background_overview(acme.id, backgrounded.id).await.unwrap());
    assert!(store.background_overview(acme.id, backgrounded.id).await.unwrap(), "still running: still true");
    assert!(store.get_overview(acme.id, backgrounded.id).await.unwrap().unwrap().backgrounded);
    let email = NewJob::new("notification_email", Some(acme.id), at(300));
    let notification = ready_notification(ada.id, backgrounded.id, Some(email));
    let ended = store
        .finish_overview(acme.id, backgrounded.id, OverviewStatus::Ready, summary(), None, Some(notification), at(4))
        .await
        .unwrap()
        .unwrap();
    assert!(ended.backgrounded);
    assert_eq!(ended.status, OverviewStatus::Ready);
    let told = notifications_about(&store, acme.id, ada.id, TargetType::Overview, backgrounded.id).await;
    assert_eq!(told.len(), 1, "one notification: {told:?}");
    let ready = &told[0];
    assert_eq!((ready.tenant_id, ready.admin_id, ready.kind.as_str()), (acme.id, ada.id, "sync_overview_ready"));
    assert_eq!((ready.in_app, ready.created_at, ready.seen_at), (true, at(4), None));
    assert_eq!((ready.email, ready.emailed_at), (EmailState::Pending, None));
    one_queued_job(&store, "notification_email", acme.id, ready.id, at(300)).await;

    // Backgrounded, and ended without a notification to create (the app
    // decided no one is told): it ends all the same.
    let quiet = start(&store, acme.id, okta, ada.id, 5).await;
    assert!(store.background_overview(acme.id, quiet.id).await.unwrap());
    let ended = store.finish_overview(acme.id, quiet.id, OverviewStatus::Failed, summary(), None, None, at(6)).await;
    assert!(ended.unwrap().unwrap().backgrounded);
    assert_eq!(notifications_about(&store, acme.id, ada.id, TargetType::Overview, quiet.id).await, vec![]);
}

/// The request stops waiting just as the overview ends: either the end
/// saw the overview backgrounded (and notified), or the background came
/// too late and was told so (the request answers with the result). Never
/// both, never neither.
pub async fn backgrounding_and_ending_at_once_agree_on_who_tells_the_admin(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    for round in 0..12 {
        let overview = start(&store, acme.id, okta, ada.id, round).await;
        let backgrounding = {
            let store = store.clone();
            tokio::spawn(async move { store.background_overview(acme.id, overview.id).await.unwrap() })
        };
        let notification = ready_notification(ada.id, overview.id, None);
        let ended = store
            .finish_overview(
                acme.id,
                overview.id,
                OverviewStatus::Ready,
                summary(),
                None,
                Some(notification),
                at(round),
            )
            .await
            .unwrap()
            .expect("it was running");
        let backgrounded = backgrounding.await.unwrap();
        assert_eq!(ended.backgrounded, backgrounded, "round {round}: the end and the background disagree");
        assert_eq!(store.get_overview(acme.id, overview.id).await.unwrap().unwrap().backgrounded, backgrounded);
        let told = notifications_about(&store, acme.id, ada.id, TargetType::Overview, overview.id).await;
        assert_eq!(told.len(), usize::from(backgrounded), "round {round}: notified iff backgrounded: {told:?}");
    }
}

pub async fn another_tenants_overviews_and_changes_are_absent(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let overview = start(&store, acme.id, okta, ada.id, 1).await;
    assert!(store
        .add_overview_changes(acme.id, overview.id, vec![change(1, ChangeAction::Create, "e1")])
        .await
        .unwrap());

    assert_eq!(store.get_overview(globex.id, overview.id).await.unwrap(), None);
    assert_eq!(store.overviews_by_ids(globex.id, &[overview.id]).await.unwrap(), vec![]);
    assert_eq!(store.list_overview_changes(globex.id, overview.id, None, None, 10).await.unwrap(), vec![]);
    assert_eq!(store.last_overview_seq(globex.id, overview.id).await.unwrap(), 0);
    let theirs = vec![change(2, ChangeAction::Create, "intruder")];
    assert!(!store.add_overview_changes(globex.id, overview.id, theirs).await.unwrap());
    assert!(!store.background_overview(globex.id, overview.id).await.unwrap());
    let finish = store.finish_overview(globex.id, overview.id, OverviewStatus::Failed, summary(), None, None, at(2));
    assert_eq!(finish.await.unwrap(), None);

    // Untouched for its own tenant.
    let own = store.get_overview(acme.id, overview.id).await.unwrap().unwrap();
    assert_eq!(own, overview);
    assert_eq!(store.list_overview_changes(acme.id, overview.id, None, None, 10).await.unwrap().len(), 1);
}
