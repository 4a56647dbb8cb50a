//! An email's begin against a mark of its notification in flight.
//!
//! The admin opens the notification just as the email job begins its send.
//! The mark holds the row (its update is not committed yet) when the begin
//! reads it. The begin must wait for that mark and see it: a notification
//! seen before the begin commits is never emailed. A begin that read the
//! row without locking it would read it unseen, wait only at its own
//! update, and then store `sending` over a notification already seen.
//!
//! The mark is held open by hand: the test runs the store's mark statement
//! in a transaction of its own and commits it once the begin waits.

mod support;

use std::sync::Arc;

use lockstep_store::conformance::support::{at, tenant};
use lockstep_store::{EmailBegin, EmailState, NewJob, NewNotification, Store, TargetType};
use lockstep_store_postgres::PgStore;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn a_mark_that_commits_while_an_email_begins_stops_the_email() {
    let url = support::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    let (acme, ada) = tenant(&store, "acme").await;
    let new = NewNotification {
        admin_id: ada.id,
        kind: "sync_complete".into(),
        target_type: TargetType::SyncRun,
        target_id: 1,
        in_app: true,
        email_job: Some(NewJob::new("notification_email", None, at(600))),
    };
    let notification = store.create_notification(acme.id, new, at(0)).await.unwrap();

    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut admin).await.unwrap();
    sqlx::query("UPDATE notifications SET seen_at = COALESCE(seen_at, $2) WHERE id = $1")
        .bind(notification.id)
        .bind(at(599))
        .execute(&mut admin)
        .await
        .unwrap();

    let job = store.clone();
    let begin = tokio::spawn(async move { job.begin_notification_email(acme.id, notification.id, at(600)).await });
    let mut watcher = PgConnection::connect(&url).await.unwrap();
    wait_for_a_backend_waiting_on_a_lock(&mut watcher).await;
    sqlx::query("COMMIT").execute(&mut admin).await.unwrap();

    let begun = begin.await.unwrap().unwrap();
    assert_eq!(begun, EmailBegin::Seen, "the email began over a mark committed before it");
    let stored = store.notification_by_id(acme.id, notification.id).await.unwrap().unwrap();
    assert_eq!((stored.seen_at, stored.email), (Some(at(599)), EmailState::NotNeeded));
}

/// Returns once a session of this test's database waits for a lock: the
/// begin has reached the row the open mark holds.
async fn wait_for_a_backend_waiting_on_a_lock(conn: &mut PgConnection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the begin never waited for the mark");
}
