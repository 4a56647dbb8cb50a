//! Placeholder: [`NotificationStore`] is not implemented yet on this backend.

#![allow(unused_variables)]

use async_trait::async_trait;
use lockstep_store::*;

use crate::codec::ms;
use crate::{db_error, SqliteStore};

/// Inserts a notification, and its email job with the notification as
/// subject, in the caller's transaction; returns the notification's id.
/// The caller wakes the job workers after its commit when there was an
/// email job.
pub(crate) fn insert(
    conn: &rusqlite::Connection,
    tenant_id: i64,
    notification: &NewNotification,
    now: Timestamp,
) -> StoreResult<i64> {
    let email = if notification.email_job.is_some() { EmailState::Pending } else { EmailState::None };
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO notifications (tenant_id, admin_id, kind, target_type, target_id, in_app, created_at, email)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                rusqlite::params![
                    tenant_id,
                    notification.admin_id,
                    notification.kind,
                    notification.target_type.as_str(),
                    notification.target_id,
                    notification.in_app,
                    ms(now),
                    email.as_str()
                ],
                |row| row.get(0),
            )
        })
        .map_err(db_error)?;
    if let Some(job) = &notification.email_job {
        let job = NewJob { subject_id: Some(id), tenant_id: Some(tenant_id), ..job.clone() };
        crate::jobs::insert(conn, &job, now)?;
    }
    Ok(id)
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn list_notifications(
        &self,
        tenant_id: i64,
        admin_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn unseen_notifications(&self, tenant_id: i64, admin_id: i64) -> StoreResult<i64> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn get_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
    ) -> StoreResult<Option<Notification>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn notification_by_id(&self, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn mark_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
        read: bool,
        now: Timestamp,
    ) -> StoreResult<Option<Notification>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn mark_all_notifications_seen(&self, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn begin_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        now: Timestamp,
    ) -> StoreResult<EmailBegin> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn finish_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        state: EmailState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn get_settings(&self, tenant_id: i64) -> StoreResult<Option<StoredSettings>> {
        Err(StoreError::Database("not implemented".into()))
    }
    async fn put_settings(
        &self,
        tenant_id: i64,
        settings: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Option<StoredSettings>> {
        Err(StoreError::Database("not implemented".into()))
    }
}
