//! Admins' notifications, their emails' states, and tenant settings
//! ([`NotificationStore`]).
//!
//! Beginning an email locks the notification's row (`FOR UPDATE`) before
//! it reads it, and a mark updates that row, which takes the same lock: the
//! two are ordered. A mark that commits first is seen by the begin (under
//! `READ COMMITTED` a locking read returns the latest committed version),
//! which then stores `not_needed`; a mark that comes second waits for the
//! begin's commit, and the email, already `sending`, goes out. So a
//! notification seen before the begin commits is never emailed, and the
//! begin commits `sending` before any SMTP conversation starts.
//!
//! Unseen counts and "mark all seen" use the partial index
//! `notifications_unseen` (migration 0012), which holds only the unseen
//! in-platform notifications.

use async_trait::async_trait;
use lockstep_store::email_rules;
use lockstep_store::{
    EmailBegin, EmailState, NewJob, NewNotification, Notification, NotificationStore, StoreError, StoreResult,
    StoredSettings, TargetType, Timestamp,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{corrupt, db_error, ms, PgStore};

const COLUMNS: &str =
    "id, tenant_id, admin_id, kind, target_type, target_id, in_app, created_at, seen_at, read_at, email, emailed_at";

/// A column the row types cannot hold, as a decode error (reported corrupt).
fn undecodable(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column}: {value:?}").into())
}

fn notification_from_row(row: &PgRow) -> Result<Notification, sqlx::Error> {
    let target_type: String = row.try_get("target_type")?;
    let email: String = row.try_get("email")?;
    Ok(Notification {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        admin_id: row.try_get("admin_id")?,
        kind: row.try_get("kind")?,
        target_type: TargetType::parse(&target_type).ok_or_else(|| undecodable("target_type", &target_type))?,
        target_id: row.try_get("target_id")?,
        in_app: row.try_get("in_app")?,
        created_at: row.try_get("created_at")?,
        seen_at: row.try_get("seen_at")?,
        read_at: row.try_get("read_at")?,
        email: EmailState::parse(&email).ok_or_else(|| undecodable("email", &email))?,
        emailed_at: row.try_get("emailed_at")?,
    })
}

fn settings_from_row(row: &PgRow) -> Result<StoredSettings, sqlx::Error> {
    Ok(StoredSettings { settings: row.try_get("settings")?, updated_at: row.try_get("updated_at")? })
}
async fn by_id(conn: &mut PgConnection, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM notifications WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(notification_id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(notification_from_row).transpose().map_err(corrupt)
}

/// Inserts a notification, and its email job with the notification as
/// subject, in the caller's transaction; returns the notification's id.
/// The caller wakes the job workers after its commit when there was an
/// email job.
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    notification: &NewNotification,
    now: Timestamp,
) -> StoreResult<i64> {
    let email = if notification.email_job.is_some() { EmailState::Pending } else { EmailState::None };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notifications (tenant_id, admin_id, kind, target_type, target_id, in_app, created_at, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(tenant_id)
    .bind(notification.admin_id)
    .bind(&notification.kind)
    .bind(notification.target_type.as_str())
    .bind(notification.target_id)
    .bind(notification.in_app)
    .bind(ms(now))
    .bind(email.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(job) = &notification.email_job {
        let job = NewJob { subject_id: Some(id), tenant_id: Some(tenant_id), ..job.clone() };
        crate::jobs::insert(conn, &job, now).await?;
    }
    Ok(id)
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn create_notification(
        &self,
        tenant_id: i64,
        notification: NewNotification,
        now: Timestamp,
    ) -> StoreResult<Notification> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let id = insert(&mut tx, tenant_id, &notification, now).await?;
        let created = by_id(&mut tx, tenant_id, id)
            .await?
            .ok_or_else(|| StoreError::Database("the new notification vanished".into()))?;
        tx.commit().await.map_err(db_error)?;
        if notification.email_job.is_some() {
            self.wake_job_workers();
        }
        Ok(created)
    }

    /// The cursor is a bound of `notifications_by_admin` (the largest id
    /// when there is none), so a later page starts where the cursor is.
    async fn list_notifications(
        &self,
        tenant_id: i64,
        admin_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE tenant_id = $1 AND admin_id = $2 AND in_app AND id < COALESCE($3, 9223372036854775807)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(admin_id)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(notification_from_row).collect::<Result<_, _>>().map_err(corrupt)
    }

    async fn unseen_notifications(&self, tenant_id: i64, admin_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND admin_id = $2 AND in_app AND seen_at IS NULL",
        )
        .bind(tenant_id)
        .bind(admin_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn get_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
    ) -> StoreResult<Option<Notification>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE tenant_id = $1 AND admin_id = $2 AND id = $3"
        ))
        .bind(tenant_id)
        .bind(admin_id)
        .bind(notification_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(notification_from_row).transpose().map_err(corrupt)
    }

    async fn notification_by_id(&self, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        by_id(&mut conn, tenant_id, notification_id).await
    }

    /// Keeps the first `seen_at` and `read_at`; reading sets `seen_at` too.
    /// The update locks the row, which orders it against an email's begin.
    async fn mark_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
        read: bool,
        now: Timestamp,
    ) -> StoreResult<Option<Notification>> {
        let row = sqlx::query(&format!(
            "UPDATE notifications
             SET seen_at = COALESCE(seen_at, $5), read_at = CASE WHEN $4 THEN COALESCE(read_at, $5) ELSE read_at END
             WHERE tenant_id = $1 AND admin_id = $2 AND id = $3 RETURNING {COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(admin_id)
        .bind(notification_id)
        .bind(read)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(notification_from_row).transpose().map_err(corrupt)
    }

    async fn mark_all_notifications_seen(&self, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64> {
        let marked = sqlx::query(
            "UPDATE notifications SET seen_at = $3
             WHERE tenant_id = $1 AND admin_id = $2 AND in_app AND seen_at IS NULL AND created_at <= $3",
        )
        .bind(tenant_id)
        .bind(admin_id)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(marked.rows_affected())
    }

    async fn begin_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        _now: Timestamp,
    ) -> StoreResult<EmailBegin> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Locked before it is read, so a concurrent mark is ordered before
        // or after this decision (see the module docs).
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} FROM notifications WHERE tenant_id = $1 AND id = $2 FOR UPDATE"))
                .bind(tenant_id)
                .bind(notification_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some(found) = row.as_ref().map(notification_from_row).transpose().map_err(corrupt)? else {
            return Ok(EmailBegin::Missing);
        };
        let (state, begin) = email_rules::begin_email(&found);
        if let Some(state) = state {
            sqlx::query("UPDATE notifications SET email = $2 WHERE id = $1")
                .bind(notification_id)
                .bind(state.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
        }
        Ok(begin)
    }

    async fn finish_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        state: EmailState,
        now: Timestamp,
    ) -> StoreResult<bool> {
        if !email_rules::ends_a_send(state) {
            return Err(StoreError::Refused(format!("{} does not end an email's send", state.as_str())));
        }
        let emailed_at = (state == EmailState::Sent).then_some(ms(now));
        let finished = sqlx::query(
            "UPDATE notifications SET email = $3, emailed_at = COALESCE($4, emailed_at)
             WHERE tenant_id = $1 AND id = $2 AND email = 'sending'",
        )
        .bind(tenant_id)
        .bind(notification_id)
        .bind(state.as_str())
        .bind(emailed_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(finished.rows_affected() == 1)
    }

    async fn get_settings(&self, tenant_id: i64) -> StoreResult<Option<StoredSettings>> {
        let row = sqlx::query("SELECT settings, updated_at FROM tenant_settings WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(settings_from_row).transpose().map_err(corrupt)
    }

    /// One statement: the `SELECT` from `tenants` inserts nothing for a
    /// tenant that does not exist, and the upsert replaces what a tenant had.
    async fn put_settings(
        &self,
        tenant_id: i64,
        settings: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Option<StoredSettings>> {
        let row = sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, settings, updated_at)
             SELECT id, $2, $3 FROM tenants WHERE id = $1
             ON CONFLICT (tenant_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at
             RETURNING settings, updated_at",
        )
        .bind(tenant_id)
        .bind(&settings)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(settings_from_row).transpose().map_err(corrupt)
    }
}
