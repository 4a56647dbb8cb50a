//! Admins' notifications, their emails' states, and tenant settings
//! ([`NotificationStore`]).
//!
//! Every write goes through the one write connection, so a mark and the
//! begin of an email are ordered by the write lock: the begin reads the
//! notification inside its `IMMEDIATE` transaction and stores what
//! [`email_rules::begin_email`] decides before any mark can slip in.
//! Unseen counts and "mark all seen" use the partial index
//! `notifications_unseen` (migration 0008), which holds only the unseen
//! in-platform notifications.

use async_trait::async_trait;
use lockstep_store::email_rules;
use lockstep_store::{
    EmailBegin, EmailState, NewJob, NewNotification, Notification, NotificationStore, StoreError, StoreResult,
    StoredSettings, TargetType, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{corrupt, json, ms, opt_time, time};
use crate::{db_error, SqliteStore};

const COLUMNS: &str =
    "id, tenant_id, admin_id, kind, target_type, target_id, in_app, created_at, seen_at, read_at, email, emailed_at";

fn notification(row: &Row<'_>) -> rusqlite::Result<Notification> {
    let target_type: String = row.get(4)?;
    let email: String = row.get(10)?;
    Ok(Notification {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        admin_id: row.get(2)?,
        kind: row.get(3)?,
        target_type: TargetType::parse(&target_type).ok_or_else(|| corrupt("target_type", &target_type))?,
        target_id: row.get(5)?,
        in_app: row.get(6)?,
        created_at: time(row.get(7)?)?,
        seen_at: opt_time(row.get(8)?)?,
        read_at: opt_time(row.get(9)?)?,
        email: EmailState::parse(&email).ok_or_else(|| corrupt("email", &email))?,
        emailed_at: opt_time(row.get(11)?)?,
    })
}

fn settings(row: &Row<'_>) -> rusqlite::Result<StoredSettings> {
    Ok(StoredSettings { settings: json(&row.get::<_, String>(0)?)?, updated_at: time(row.get(1)?)? })
}

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

fn by_id(conn: &Connection, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM notifications WHERE tenant_id = ?1 AND id = ?2"))
        .and_then(|mut stmt| stmt.query_row([tenant_id, notification_id], notification).optional())
        .map_err(db_error)
}

fn create(conn: &mut Connection, tenant_id: i64, new: &NewNotification, now: Timestamp) -> StoreResult<Notification> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let id = insert(&tx, tenant_id, new, now)?;
    let created =
        by_id(&tx, tenant_id, id)?.ok_or_else(|| StoreError::Database("the new notification vanished".into()))?;
    tx.commit().map_err(db_error)?;
    Ok(created)
}

/// The cursor is a bound of `notifications_by_admin` (the largest id when
/// there is none), so a later page starts where the cursor is instead of
/// walking down from the newest.
fn list(
    conn: &Connection,
    tenant_id: i64,
    admin_id: i64,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Notification>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE tenant_id = ?1 AND admin_id = ?2 AND in_app AND id < COALESCE(?3, 9223372036854775807)
             ORDER BY id DESC LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map(params![tenant_id, admin_id, before_id, limit], notification).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn unseen(conn: &Connection, tenant_id: i64, admin_id: i64) -> StoreResult<i64> {
    conn.prepare_cached(
        "SELECT count(*) FROM notifications WHERE tenant_id = ?1 AND admin_id = ?2 AND in_app AND seen_at IS NULL",
    )
    .and_then(|mut stmt| stmt.query_row([tenant_id, admin_id], |r| r.get(0)))
    .map_err(db_error)
}

fn get(conn: &Connection, tenant_id: i64, admin_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE tenant_id = ?1 AND admin_id = ?2 AND id = ?3"
    ))
    .and_then(|mut stmt| stmt.query_row([tenant_id, admin_id, notification_id], notification).optional())
    .map_err(db_error)
}

/// Keeps the first `seen_at` and `read_at`; reading sets `seen_at` too.
fn mark(
    conn: &Connection,
    tenant_id: i64,
    admin_id: i64,
    notification_id: i64,
    read: bool,
    now: Timestamp,
) -> StoreResult<Option<Notification>> {
    conn.prepare_cached(&format!(
        "UPDATE notifications
         SET seen_at = COALESCE(seen_at, ?5), read_at = CASE WHEN ?4 THEN COALESCE(read_at, ?5) ELSE read_at END
         WHERE tenant_id = ?1 AND admin_id = ?2 AND id = ?3 RETURNING {COLUMNS}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![tenant_id, admin_id, notification_id, read, ms(now)], notification).optional()
    })
    .map_err(db_error)
}

fn mark_all_seen(conn: &Connection, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64> {
    let marked = conn
        .prepare_cached(
            "UPDATE notifications SET seen_at = ?3
             WHERE tenant_id = ?1 AND admin_id = ?2 AND in_app AND seen_at IS NULL AND created_at <= ?3",
        )
        .and_then(|mut stmt| stmt.execute(params![tenant_id, admin_id, ms(now)]))
        .map_err(db_error)?;
    Ok(marked as u64)
}

fn begin_email(conn: &mut Connection, tenant_id: i64, notification_id: i64) -> StoreResult<EmailBegin> {
    // IMMEDIATE: the write lock is held from the read to the commit, so no
    // mark lands between what the rule reads and what it stores.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let Some(found) = by_id(&tx, tenant_id, notification_id)? else {
        return Ok(EmailBegin::Missing);
    };
    let (state, begin) = email_rules::begin_email(&found);
    if let Some(state) = state {
        tx.prepare_cached("UPDATE notifications SET email = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![notification_id, state.as_str()]))
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
    }
    Ok(begin)
}

fn finish_email(
    conn: &Connection,
    tenant_id: i64,
    notification_id: i64,
    state: EmailState,
    now: Timestamp,
) -> StoreResult<bool> {
    let emailed_at = (state == EmailState::Sent).then_some(ms(now));
    let finished = conn
        .prepare_cached(
            "UPDATE notifications SET email = ?3, emailed_at = COALESCE(?4, emailed_at)
             WHERE tenant_id = ?1 AND id = ?2 AND email = 'sending'",
        )
        .and_then(|mut stmt| stmt.execute(params![tenant_id, notification_id, state.as_str(), emailed_at]))
        .map_err(db_error)?;
    Ok(finished == 1)
}

fn get_settings(conn: &Connection, tenant_id: i64) -> StoreResult<Option<StoredSettings>> {
    conn.prepare_cached("SELECT settings, updated_at FROM tenant_settings WHERE tenant_id = ?1")
        .and_then(|mut stmt| stmt.query_row([tenant_id], settings).optional())
        .map_err(db_error)
}

/// One statement: the `SELECT` from `tenants` inserts nothing for a tenant
/// that does not exist, and the upsert replaces what a tenant had.
fn put_settings(
    conn: &Connection,
    tenant_id: i64,
    value: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<Option<StoredSettings>> {
    conn.prepare_cached(
        "INSERT INTO tenant_settings (tenant_id, settings, updated_at)
         SELECT id, ?2, ?3 FROM tenants WHERE id = ?1
         ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
         RETURNING settings, updated_at",
    )
    .and_then(|mut stmt| stmt.query_row(params![tenant_id, value.to_string(), ms(now)], settings).optional())
    .map_err(db_error)
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn create_notification(
        &self,
        tenant_id: i64,
        notification: NewNotification,
        now: Timestamp,
    ) -> StoreResult<Notification> {
        let created = self.write(|conn| create(conn, tenant_id, &notification, now))?;
        if notification.email_job.is_some() {
            self.wake_job_workers();
        }
        Ok(created)
    }

    async fn list_notifications(
        &self,
        tenant_id: i64,
        admin_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        self.read(|conn| list(conn, tenant_id, admin_id, before_id, limit))
    }

    async fn unseen_notifications(&self, tenant_id: i64, admin_id: i64) -> StoreResult<i64> {
        self.read(|conn| unseen(conn, tenant_id, admin_id))
    }

    async fn get_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
    ) -> StoreResult<Option<Notification>> {
        self.read(|conn| get(conn, tenant_id, admin_id, notification_id))
    }

    async fn notification_by_id(&self, tenant_id: i64, notification_id: i64) -> StoreResult<Option<Notification>> {
        self.read(|conn| by_id(conn, tenant_id, notification_id))
    }

    async fn mark_notification(
        &self,
        tenant_id: i64,
        admin_id: i64,
        notification_id: i64,
        read: bool,
        now: Timestamp,
    ) -> StoreResult<Option<Notification>> {
        self.write(|conn| mark(conn, tenant_id, admin_id, notification_id, read, now))
    }

    async fn mark_all_notifications_seen(&self, tenant_id: i64, admin_id: i64, now: Timestamp) -> StoreResult<u64> {
        self.write(|conn| mark_all_seen(conn, tenant_id, admin_id, now))
    }

    async fn begin_notification_email(
        &self,
        tenant_id: i64,
        notification_id: i64,
        _now: Timestamp,
    ) -> StoreResult<EmailBegin> {
        self.write(|conn| begin_email(conn, tenant_id, notification_id))
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
        self.write(|conn| finish_email(conn, tenant_id, notification_id, state, now))
    }

    async fn get_settings(&self, tenant_id: i64) -> StoreResult<Option<StoredSettings>> {
        self.read(|conn| get_settings(conn, tenant_id))
    }

    async fn put_settings(
        &self,
        tenant_id: i64,
        settings: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Option<StoredSettings>> {
        self.write(|conn| put_settings(conn, tenant_id, &settings, now))
    }
}
