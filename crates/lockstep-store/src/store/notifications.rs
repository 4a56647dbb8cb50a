//! Notifications to admins, their emails, and a tenant's settings.

use async_trait::async_trait;

use crate::{EmailBegin, EmailState, Notification, StoreResult, StoredSettings, Timestamp};

/// An admin's notifications, the state of their emails, and the tenant
/// settings that decide how admins are told.
///
/// Every method is scoped by tenant, and the in-platform ones by admin:
/// another admin's notification is absent.
#[async_trait]
pub trait NotificationStore: Send + Sync {
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

    /// Marks every unseen notification of the admin created at or before
    /// `now` seen at `now`. Returns how many.
    async fn mark_all_notifications_seen(&self, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64>;

    /// Decides, in one transaction, whether a notification's email goes
    /// out: see [`EmailBegin`]. An `in_app` notification seen already
    /// makes it `not_needed`; otherwise a `pending` one becomes `sending`.
    async fn begin_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        now: Timestamp,
    ) -> StoreResult<EmailBegin>;

    /// Ends a send begun with [`begin_notification_email`]: `Sent` (with
    /// `emailed_at` = `now`), `Failed`, or `Pending` again (the SMTP
    /// server surely did not take it: a transient failure before it
    /// accepted the message). Applies only while the state is `sending`;
    /// false otherwise.
    ///
    /// [`begin_notification_email`]: NotificationStore::begin_notification_email
    async fn finish_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        state: EmailState,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// The tenant's settings, `None` when never set.
    async fn get_settings(&self, tenant_id: i64) -> StoreResult<Option<StoredSettings>>;

    /// Replaces the tenant's settings. `None` when the tenant does not exist.
    async fn put_settings(
        &self,
        tenant_id: i64,
        settings: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Option<StoredSettings>>;
}
