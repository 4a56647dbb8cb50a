//! Notifications to admins, their emails, and a tenant's settings.

use async_trait::async_trait;

use crate::{EmailBegin, EmailState, NewNotification, Notification, StoreResult, StoredSettings, Timestamp};

/// An admin's notifications, the state of their emails, and the tenant
/// settings that decide how admins are told.
///
/// Every method is scoped by tenant, and the in-platform ones by admin:
/// another admin's notification is absent.
///
/// Notifications are mostly created by the finish of the operation they
/// are about, in its transaction (the finishes of [`OverviewStore`] and
/// [`SyncRunStore`] take a [`NewNotification`]);
/// [`create_notification`](NotificationStore::create_notification) creates
/// one on its own.
///
/// [`OverviewStore`]: crate::OverviewStore
/// [`SyncRunStore`]: crate::SyncRunStore
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Creates a notification (and its email job) on its own: for
    /// notifications that do not come from an operation's finish, and for
    /// tests. The email job, when there is one, is enqueued in the same
    /// transaction with the notification as its subject, and the job
    /// workers are woken after the commit. An error when the tenant does
    /// not exist; the admin is the caller's to check.
    async fn create_notification(
        &self,
        tenant_id: i64,
        notification: NewNotification,
        now: Timestamp,
    ) -> StoreResult<Notification>;

    /// An admin's in-platform (`in_app`) notifications, newest first,
    /// before the cursor `before_id`.
    async fn list_notifications(
        &self,
        tenant_id: i64,
        admin_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>>;

    /// How many of an admin's in-platform notifications are unseen.
    async fn unseen_notifications(&self, tenant_id: i64, admin_id: i64) -> StoreResult<i64>;

    /// One of an admin's notifications (in-platform or not).
    async fn get_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
    ) -> StoreResult<Option<Notification>>;

    /// A notification by id within the tenant, whoever it is for (for its
    /// email job and its link).
    async fn notification_by_id(&self, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>>;

    /// Marks one of an admin's notifications seen at `now` (a notification
    /// seen already keeps its first time; `read` also marks it read, and
    /// read implies seen). `None` when absent.
    async fn mark_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
        read: bool,
        now: Timestamp,
    ) -> StoreResult<Option<Notification>>;

    /// Marks every unseen in-platform (`in_app`) notification of the admin
    /// created at or before `now` seen at `now`: what the admin can see in
    /// the list, so the count agrees with [`unseen_notifications`]. Returns
    /// how many.
    ///
    /// [`unseen_notifications`]: NotificationStore::unseen_notifications
    async fn mark_all_notifications_seen(&self, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64>;

    /// Decides, in one transaction, whether a notification's email goes
    /// out: see [`EmailBegin`] and [`email_rules::begin_email`]. An
    /// `in_app` notification seen already makes it `not_needed`; otherwise
    /// a `pending` one becomes `sending`, committed before the caller
    /// speaks to the SMTP server.
    ///
    /// A mark of the notification is ordered before or after this call:
    /// one that commits first makes the email `not_needed`, so a
    /// notification seen before the begin commits is never emailed. One
    /// that commits after finds the email already begun, and it may still
    /// go out: the admin saw the notification while it was being sent.
    ///
    /// [`email_rules::begin_email`]: crate::email_rules::begin_email
    async fn begin_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        now: Timestamp,
    ) -> StoreResult<EmailBegin>;

    /// Ends a send begun with [`begin_notification_email`]: `Sent` (with
    /// `emailed_at` = `now`), `Failed`, or `Pending` again (the SMTP
    /// server surely did not take it: a transient failure before it
    /// accepted the message). `Unknown` also ends it, for a conversation
    /// that broke after the message was handed over (see
    /// [`email_rules::ends_a_send`]; any other state is refused). Applies
    /// only while the state is `sending`; false otherwise, and nothing is
    /// written.
    ///
    /// [`email_rules::ends_a_send`]: crate::email_rules::ends_a_send
    /// [`begin_notification_email`]: NotificationStore::begin_notification_email
    async fn finish_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        state: EmailState,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// The tenant's settings, `None` when never set (or no such tenant).
    async fn get_settings(&self, tenant_id: i64) -> StoreResult<Option<StoredSettings>>;

    /// Replaces the tenant's settings (creating them the first time), and
    /// returns them as stored. `None` when the tenant does not exist.
    async fn put_settings(
        &self,
        tenant_id: i64,
        settings: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Option<StoredSettings>>;
}
