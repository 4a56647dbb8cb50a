//! Cases for admins' notifications, their emails and tenant settings.
//!
//! An admin sees only their own in-platform notifications, newest first,
//! with an unseen count; marks one seen or read (the first time stays), or
//! all seen up to now. The email of a notification goes out at most once
//! and only while it is unseen: begun (`pending` → `sending`, or
//! `not_needed` when seen in time), then finished while `sending`; a begin
//! that finds `sending` (a send cut short) makes it `unknown`, never sent
//! again. A tenant's settings are one JSON object, replaced whole.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{EmailBegin, EmailState, NewJob, NewNotification, Notification, Store, StoreError, TargetType, Timestamp};

/// How long the tenant waits before emailing an unseen notification.
const EMAIL_DELAY_SECS: i64 = 600;

/// A "sync complete" notification of Sync Now run `run` for `admin_id`.
/// `emails`: the tenant emails, so an email job due after the delay goes with it.
fn sync_complete(admin_id: i64, run: i64, in_app: bool, emails: bool, now: Timestamp) -> NewNotification {
    let due_at = now + chrono::Duration::seconds(EMAIL_DELAY_SECS);
    NewNotification {
        admin_id,
        kind: "sync_complete".to_string(),
        target_type: TargetType::SyncRun,
        target_id: run,
        in_app,
        email_job: emails.then(|| NewJob::new("notification_email", None, due_at)),
    }
}

/// Creates an in-platform notification without email at `now`.
async fn notify(store: &Arc<dyn Store>, tenant_id: i64, admin_id: i64, run: i64, now: Timestamp) -> Notification {
    store
        .create_notification(tenant_id, sync_complete(admin_id, run, true, false, now), now)
        .await
        .expect("create_notification")
}

/// Creates an in-platform notification with an email at `now`.
async fn notify_by_email(
    store: &Arc<dyn Store>,
    tenant_id: i64,
    admin_id: i64,
    run: i64,
    now: Timestamp,
) -> Notification {
    store
        .create_notification(tenant_id, sync_complete(admin_id, run, true, true, now), now)
        .await
        .expect("create_notification")
}

async fn email_of(store: &Arc<dyn Store>, tenant_id: i64, notification_id: i64) -> EmailState {
    store.notification_by_id(tenant_id, notification_id).await.unwrap().expect("the notification").email
}

fn ids(notifications: &[Notification]) -> Vec<i64> {
    notifications.iter().map(|n| n.id).collect()
}

pub async fn a_created_notification_is_read_back_with_its_email_state(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;

    let emailed = notify_by_email(&store, acme.id, ada.id, 7, at(1)).await;
    assert_eq!(
        emailed,
        Notification {
            id: emailed.id,
            tenant_id: acme.id,
            admin_id: ada.id,
            kind: "sync_complete".to_string(),
            target_type: TargetType::SyncRun,
            target_id: 7,
            in_app: true,
            created_at: at(1),
            seen_at: None,
            read_at: None,
            email: EmailState::Pending,
            emailed_at: None,
        },
        "a notification with an email job waits for its email"
    );
    let jobs = store.jobs_for_subject("notification_email", emailed.id).await.unwrap();
    assert_eq!(jobs.len(), 1, "one email job, in the same transaction: {jobs:?}");
    assert_eq!(jobs[0].tenant_id, Some(acme.id));
    assert_eq!(jobs[0].status, crate::JobStatus::Queued);
    assert_eq!(jobs[0].due_at, Some(at(1) + chrono::Duration::seconds(EMAIL_DELAY_SECS)));
    assert_eq!(jobs[0].unique_key.as_deref(), Some(format!("notification_email:{}", emailed.id).as_str()));

    let quiet = notify(&store, acme.id, ada.id, 8, at(2)).await;
    assert_eq!(quiet.email, EmailState::None, "no email job, no email");
    assert!(store.jobs_for_subject("notification_email", quiet.id).await.unwrap().is_empty());

    assert_eq!(store.get_notification(acme.id, ada.id, emailed.id).await.unwrap(), Some(emailed.clone()));
    assert_eq!(store.notification_by_id(acme.id, emailed.id).await.unwrap(), Some(emailed));
    assert_eq!(store.notification_by_id(acme.id, quiet.id).await.unwrap(), Some(quiet));
}

pub async fn notifications_are_listed_newest_first_before_a_cursor_only_in_app_and_only_the_admins_own(
    store: Arc<dyn Store>,
) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme.test"), at(0)).await.unwrap();
    let first = notify(&store, acme.id, ada.id, 1, at(1)).await;
    let second = notify_by_email(&store, acme.id, ada.id, 2, at(2)).await;
    let email_only =
        store.create_notification(acme.id, sync_complete(ada.id, 3, false, true, at(3)), at(3)).await.unwrap();
    notify(&store, acme.id, grace.id, 4, at(4)).await;
    let third = notify(&store, acme.id, ada.id, 5, at(5)).await;

    let listed = store.list_notifications(acme.id, ada.id, None, 10).await.unwrap();
    assert_eq!(ids(&listed), [third.id, second.id, first.id], "newest first, in-platform only, ada's only");
    assert_eq!(listed[1], second);
    let page = store.list_notifications(acme.id, ada.id, None, 2).await.unwrap();
    assert_eq!(ids(&page), [third.id, second.id]);
    let next = store.list_notifications(acme.id, ada.id, Some(second.id), 2).await.unwrap();
    assert_eq!(ids(&next), [first.id], "the page after the cursor");
    let past_email_only = store.list_notifications(acme.id, ada.id, Some(email_only.id), 10).await.unwrap();
    assert_eq!(ids(&past_email_only), [second.id, first.id], "a cursor may name an unlisted notification");

    assert_eq!(
        store.get_notification(acme.id, ada.id, email_only.id).await.unwrap(),
        Some(email_only),
        "an email-only notification is the admin's to open from the email"
    );
    assert_eq!(store.list_notifications(acme.id, grace.id, None, 10).await.unwrap().len(), 1);
}

pub async fn the_unseen_count_counts_the_admins_unseen_in_platform_notifications(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme.test"), at(0)).await.unwrap();
    assert_eq!(store.unseen_notifications(acme.id, ada.id).await.unwrap(), 0);

    let first = notify(&store, acme.id, ada.id, 1, at(1)).await;
    notify_by_email(&store, acme.id, ada.id, 2, at(2)).await;
    store.create_notification(acme.id, sync_complete(ada.id, 3, false, true, at(3)), at(3)).await.unwrap();
    notify(&store, acme.id, grace.id, 4, at(4)).await;
    assert_eq!(store.unseen_notifications(acme.id, ada.id).await.unwrap(), 2, "not the email-only one, not grace's");

    store.mark_notification(acme.id, ada.id, first.id, false, at(5)).await.unwrap();
    assert_eq!(store.unseen_notifications(acme.id, ada.id).await.unwrap(), 1);
    assert_eq!(store.unseen_notifications(acme.id, grace.id).await.unwrap(), 1);
}

pub async fn a_seen_notification_keeps_its_first_time_and_reading_implies_seen(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let glanced = notify(&store, acme.id, ada.id, 1, at(1)).await;
    let opened = notify(&store, acme.id, ada.id, 2, at(1)).await;

    let seen = store.mark_notification(acme.id, ada.id, glanced.id, false, at(10)).await.unwrap();
    let seen = seen.expect("ada's notification");
    assert_eq!((seen.seen_at, seen.read_at), (Some(at(10)), None));
    let again = store.mark_notification(acme.id, ada.id, glanced.id, false, at(20)).await.unwrap().unwrap();
    assert_eq!(again.seen_at, Some(at(10)), "seen again keeps the first time");
    let read = store.mark_notification(acme.id, ada.id, glanced.id, true, at(30)).await.unwrap().unwrap();
    assert_eq!((read.seen_at, read.read_at), (Some(at(10)), Some(at(30))), "read later, seen first");
    let reread = store.mark_notification(acme.id, ada.id, glanced.id, true, at(40)).await.unwrap().unwrap();
    assert_eq!(reread.read_at, Some(at(30)), "read again keeps the first time");
    assert_eq!(store.get_notification(acme.id, ada.id, glanced.id).await.unwrap(), Some(reread));

    let read_at_once = store.mark_notification(acme.id, ada.id, opened.id, true, at(50)).await.unwrap().unwrap();
    assert_eq!((read_at_once.seen_at, read_at_once.read_at), (Some(at(50)), Some(at(50))), "read implies seen");
    assert_eq!(read_at_once, Notification { seen_at: Some(at(50)), read_at: Some(at(50)), ..opened });
}

pub async fn marking_all_seen_marks_only_the_unseen_created_up_to_now(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let seen_earlier = notify(&store, acme.id, ada.id, 1, at(1)).await;
    let unseen = notify(&store, acme.id, ada.id, 2, at(2)).await;
    let at_now = notify(&store, acme.id, ada.id, 3, at(10)).await;
    let after_now = notify(&store, acme.id, ada.id, 4, at(11)).await;
    store.mark_notification(acme.id, ada.id, seen_earlier.id, false, at(5)).await.unwrap();

    let marked = store.mark_all_notifications_seen(acme.id, ada.id, at(10)).await.unwrap();
    assert_eq!(marked, 2, "the unseen one and the one created at that very time");

    let seen_at = async |id| store.get_notification(acme.id, ada.id, id).await.unwrap().unwrap().seen_at;
    assert_eq!(seen_at(seen_earlier.id).await, Some(at(5)), "seen before keeps its time");
    assert_eq!(seen_at(unseen.id).await, Some(at(10)));
    assert_eq!(seen_at(at_now.id).await, Some(at(10)));
    assert_eq!(seen_at(after_now.id).await, None, "created after the admin looked");
    assert_eq!(store.unseen_notifications(acme.id, ada.id).await.unwrap(), 1);
    assert_eq!(store.mark_all_notifications_seen(acme.id, ada.id, at(10)).await.unwrap(), 0, "nothing left");
}

pub async fn another_admins_or_tenants_notification_is_absent_and_untouched(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme.test"), at(0)).await.unwrap();
    let (globex, gus) = tenant(&store, "globex").await;
    let adas = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;

    // Another admin of the same tenant.
    assert_eq!(store.get_notification(acme.id, grace.id, adas.id).await.unwrap(), None);
    assert_eq!(store.mark_notification(acme.id, grace.id, adas.id, true, at(2)).await.unwrap(), None);
    assert_eq!(store.mark_all_notifications_seen(acme.id, grace.id, at(3)).await.unwrap(), 0);
    assert!(store.list_notifications(acme.id, grace.id, None, 10).await.unwrap().is_empty());
    assert_eq!(store.unseen_notifications(acme.id, grace.id).await.unwrap(), 0);

    // Another tenant, even naming ada.
    for admin_id in [gus.id, ada.id] {
        assert_eq!(store.get_notification(globex.id, admin_id, adas.id).await.unwrap(), None);
        assert_eq!(store.mark_notification(globex.id, admin_id, adas.id, true, at(4)).await.unwrap(), None);
        assert_eq!(store.mark_all_notifications_seen(globex.id, admin_id, at(5)).await.unwrap(), 0);
        assert!(store.list_notifications(globex.id, admin_id, None, 10).await.unwrap().is_empty());
        assert_eq!(store.unseen_notifications(globex.id, admin_id).await.unwrap(), 0);
    }
    assert_eq!(store.notification_by_id(globex.id, adas.id).await.unwrap(), None);
    assert_eq!(store.begin_notification_email(globex.id, adas.id, at(6)).await.unwrap(), EmailBegin::Missing);
    assert!(!store.finish_notification_email(globex.id, adas.id, EmailState::Failed, at(6)).await.unwrap());

    assert_eq!(
        store.get_notification(acme.id, ada.id, adas.id).await.unwrap(),
        Some(adas),
        "unseen, unread, its email still pending"
    );
    assert_eq!(store.unseen_notifications(acme.id, ada.id).await.unwrap(), 1);
}

pub async fn beginning_a_pending_email_makes_it_sending_and_a_send_found_cut_short_is_never_sent_again(
    store: Arc<dyn Store>,
) {
    let (acme, ada) = tenant(&store, "acme").await;
    let notification = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;
    let due = at(1 + EMAIL_DELAY_SECS);

    let begun = store.begin_notification_email(acme.id, notification.id, due).await.unwrap();
    let sending = Notification { email: EmailState::Sending, ..notification.clone() };
    assert_eq!(begun, EmailBegin::Send(sending.clone()), "send it, with the notification to write about");
    assert_eq!(store.notification_by_id(acme.id, notification.id).await.unwrap(), Some(sending));

    // The process died mid-send; the job is claimed again and begins again.
    let retried = store.begin_notification_email(acme.id, notification.id, due).await.unwrap();
    assert_eq!(retried, EmailBegin::Done(EmailState::Unknown), "it may have gone out: send nothing");
    assert_eq!(email_of(&store, acme.id, notification.id).await, EmailState::Unknown);
    let again = store.begin_notification_email(acme.id, notification.id, due).await.unwrap();
    assert_eq!(again, EmailBegin::Done(EmailState::Unknown));
    let late = store.finish_notification_email(acme.id, notification.id, EmailState::Sent, due).await.unwrap();
    assert!(!late, "the first attempt's finish no longer applies");
    assert_eq!(store.notification_by_id(acme.id, notification.id).await.unwrap().unwrap().emailed_at, None);

    assert_eq!(
        store.begin_notification_email(acme.id, notification.id + 1000, due).await.unwrap(),
        EmailBegin::Missing
    );
}

pub async fn a_notification_seen_before_its_email_begins_is_not_emailed(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let seen = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;
    let all_seen = notify_by_email(&store, acme.id, ada.id, 2, at(2)).await;
    let email_only =
        store.create_notification(acme.id, sync_complete(ada.id, 3, false, true, at(3)), at(3)).await.unwrap();
    let due = at(3 + EMAIL_DELAY_SECS);

    store.mark_notification(acme.id, ada.id, seen.id, false, at(30)).await.unwrap();
    assert_eq!(store.begin_notification_email(acme.id, seen.id, due).await.unwrap(), EmailBegin::Seen);
    assert_eq!(email_of(&store, acme.id, seen.id).await, EmailState::NotNeeded);
    let again = store.begin_notification_email(acme.id, seen.id, due).await.unwrap();
    assert_eq!(again, EmailBegin::Done(EmailState::NotNeeded), "decided once");
    assert!(!store.finish_notification_email(acme.id, seen.id, EmailState::Sent, due).await.unwrap());
    assert_eq!(email_of(&store, acme.id, seen.id).await, EmailState::NotNeeded, "nothing was sent");

    store.mark_all_notifications_seen(acme.id, ada.id, at(40)).await.unwrap();
    assert_eq!(store.begin_notification_email(acme.id, all_seen.id, due).await.unwrap(), EmailBegin::Seen);

    // Not shown in the platform: the email is the only way the admin hears of it.
    store.mark_notification(acme.id, ada.id, email_only.id, true, at(50)).await.unwrap();
    let begun = store.begin_notification_email(acme.id, email_only.id, due).await.unwrap();
    assert!(matches!(begun, EmailBegin::Send(ref n) if n.id == email_only.id), "got {begun:?}");
}

pub async fn a_sent_email_records_when_and_is_done(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let notification = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;
    let due = at(1 + EMAIL_DELAY_SECS);

    store.begin_notification_email(acme.id, notification.id, due).await.unwrap();
    let sent_at = due + chrono::Duration::seconds(2);
    assert!(store.finish_notification_email(acme.id, notification.id, EmailState::Sent, sent_at).await.unwrap());
    let sent = store.notification_by_id(acme.id, notification.id).await.unwrap().unwrap();
    assert_eq!((sent.email, sent.emailed_at), (EmailState::Sent, Some(sent_at)));

    let begun = store.begin_notification_email(acme.id, notification.id, sent_at).await.unwrap();
    assert_eq!(begun, EmailBegin::Done(EmailState::Sent), "a job run twice sends once");
    let finished_twice =
        store.finish_notification_email(acme.id, notification.id, EmailState::Failed, at(9999)).await.unwrap();
    assert!(!finished_twice);
    assert_eq!(store.notification_by_id(acme.id, notification.id).await.unwrap(), Some(sent));
}

pub async fn an_email_is_finished_only_while_sending(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let pending = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;
    let never = notify(&store, acme.id, ada.id, 2, at(2)).await;
    let refused = notify_by_email(&store, acme.id, ada.id, 3, at(3)).await;
    let due = at(3 + EMAIL_DELAY_SECS);

    assert!(!store.finish_notification_email(acme.id, pending.id, EmailState::Sent, due).await.unwrap());
    assert_eq!(store.notification_by_id(acme.id, pending.id).await.unwrap(), Some(pending), "not begun: untouched");
    assert!(!store.finish_notification_email(acme.id, never.id, EmailState::Sent, due).await.unwrap());
    assert_eq!(email_of(&store, acme.id, never.id).await, EmailState::None);
    assert_eq!(
        store.begin_notification_email(acme.id, never.id, due).await.unwrap(),
        EmailBegin::Done(EmailState::None)
    );

    store.begin_notification_email(acme.id, refused.id, due).await.unwrap();
    for not_an_end in [EmailState::None, EmailState::Sending, EmailState::NotNeeded] {
        let finished = store.finish_notification_email(acme.id, refused.id, not_an_end, due).await;
        assert!(matches!(finished, Err(StoreError::Refused(_))), "{not_an_end:?} ends no send: {finished:?}");
    }
    assert!(store.finish_notification_email(acme.id, refused.id, EmailState::Failed, due).await.unwrap());
    let failed = store.notification_by_id(acme.id, refused.id).await.unwrap().unwrap();
    assert_eq!((failed.email, failed.emailed_at), (EmailState::Failed, None));
    let begun = store.begin_notification_email(acme.id, refused.id, due).await.unwrap();
    assert_eq!(begun, EmailBegin::Done(EmailState::Failed));
}

pub async fn a_transient_failure_puts_the_email_back_to_pending_for_a_later_begin(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let retried = notify_by_email(&store, acme.id, ada.id, 1, at(1)).await;
    let seen_meanwhile = notify_by_email(&store, acme.id, ada.id, 2, at(1)).await;
    let due = at(1 + EMAIL_DELAY_SECS);

    for id in [retried.id, seen_meanwhile.id] {
        assert!(matches!(store.begin_notification_email(acme.id, id, due).await.unwrap(), EmailBegin::Send(_)));
        // The SMTP server was unreachable: it surely took nothing.
        assert!(store.finish_notification_email(acme.id, id, EmailState::Pending, due).await.unwrap());
        assert_eq!(email_of(&store, acme.id, id).await, EmailState::Pending);
    }

    let later = due + chrono::Duration::seconds(60);
    let begun = store.begin_notification_email(acme.id, retried.id, later).await.unwrap();
    assert_eq!(begun, EmailBegin::Send(Notification { email: EmailState::Sending, ..retried.clone() }));
    assert!(store.finish_notification_email(acme.id, retried.id, EmailState::Sent, later).await.unwrap());
    let sent = store.notification_by_id(acme.id, retried.id).await.unwrap().unwrap();
    assert_eq!((sent.email, sent.emailed_at), (EmailState::Sent, Some(later)));

    store.mark_notification(acme.id, ada.id, seen_meanwhile.id, false, due).await.unwrap();
    let begun = store.begin_notification_email(acme.id, seen_meanwhile.id, later).await.unwrap();
    assert_eq!(begun, EmailBegin::Seen, "seen while the retry waited");
}

pub async fn settings_are_stored_per_tenant_and_replaced_whole(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    assert_eq!(store.get_settings(acme.id).await.unwrap(), None, "never set: every default");

    let first = json!({ "notifications": { "in_app": true, "email": true, "email_delay_secs": 600 }, "name": "Acme" });
    let stored = store.put_settings(acme.id, first.clone(), at(1)).await.unwrap().expect("acme exists");
    assert_eq!((&stored.settings, stored.updated_at), (&first, at(1)));
    assert_eq!(store.get_settings(acme.id).await.unwrap(), Some(stored));

    let second = json!({ "notifications": { "in_app": false, "email": true, "email_delay_secs": 0 } });
    let replaced = store.put_settings(acme.id, second.clone(), at(2)).await.unwrap().expect("acme exists");
    assert_eq!((&replaced.settings, replaced.updated_at), (&second, at(2)), "replaced whole, not merged");
    assert_eq!(store.get_settings(acme.id).await.unwrap(), Some(replaced));

    assert_eq!(store.get_settings(globex.id).await.unwrap(), None, "acme's settings are acme's");
    let unknown = acme.id.max(globex.id) + 1000;
    assert_eq!(store.put_settings(unknown, first, at(3)).await.unwrap(), None, "no such tenant");
    assert_eq!(store.get_settings(unknown).await.unwrap(), None);
}
