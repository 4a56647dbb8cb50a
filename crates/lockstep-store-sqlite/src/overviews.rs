//! Sync Overviews ([`OverviewStore`]): the saved previews of a full sync,
//! their changes, and the notification an overview's end may create.
//!
//! Whether an overview is still valid is the app's to judge; what it judges
//! by is computed here on every read, never stored: `superseded_by` is the
//! newest overview of the same integration when that is another one (index
//! `overviews_by_integration`), and `integration_exists` whether the
//! integration is still there. A stored flag would have to be cleared by
//! every later create and every integration delete.
//!
//! What a Sync Now run shares with an overview is here too: the check that
//! the tenant has the integration, the job enqueued with the new row as
//! its subject, and the notification of an end in the background.

use async_trait::async_trait;
use lockstep_store::{
    ChangeAction, NewJob, NewNotification, Overview, OverviewChange, OverviewStatus, OverviewStore, OverviewSummary,
    StoreError, StoreResult, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{corrupt, id_list, json, ms, opt_time, time};
use crate::{db_error, SqliteStore};

/// An overview with what is computed when it is read.
const OVERVIEW_SELECT: &str = "SELECT o.id, o.tenant_id, o.integration_id, o.created_by, o.created_at, o.finished_at,
        o.status, o.error, o.summary, o.backgrounded,
        (SELECT max(n.id) FROM overviews AS n WHERE n.integration_id = o.integration_id) AS newest,
        EXISTS (SELECT 1 FROM integrations AS i WHERE i.id = o.integration_id AND i.tenant_id = o.tenant_id)
     FROM overviews AS o";

fn overview(row: &Row<'_>) -> rusqlite::Result<Overview> {
    let id: i64 = row.get(0)?;
    let status: String = row.get(6)?;
    let summary: String = row.get(8)?;
    let newest: i64 = row.get(10)?;
    Ok(Overview {
        id,
        tenant_id: row.get(1)?,
        integration_id: row.get(2)?,
        created_by: row.get(3)?,
        created_at: time(row.get(4)?)?,
        finished_at: opt_time(row.get(5)?)?,
        status: OverviewStatus::parse(&status).ok_or_else(|| corrupt("overview status", &status))?,
        error: row.get(7)?,
        summary: serde_json::from_value(json(&summary)?).map_err(|e| corrupt("overview summary", e))?,
        backgrounded: row.get(9)?,
        superseded_by: (newest != id).then_some(newest),
        integration_exists: row.get(11)?,
    })
}

fn get(conn: &Connection, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>> {
    conn.prepare_cached(&format!("{OVERVIEW_SELECT} WHERE o.tenant_id = ?1 AND o.id = ?2"))
        .and_then(|mut stmt| stmt.query_row(params![tenant_id, overview_id], overview).optional())
        .map_err(db_error)
}

fn by_ids(conn: &Connection, tenant_id: i64, overview_ids: &[i64]) -> StoreResult<Vec<Overview>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{OVERVIEW_SELECT} WHERE o.tenant_id = ?1 AND o.id IN (SELECT value FROM json_each(?2))"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map(params![tenant_id, id_list(overview_ids)], overview).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// Walks `overviews_by_integration` backwards from the cursor.
fn list(
    conn: &Connection,
    tenant_id: i64,
    integration_id: i64,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Overview>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{OVERVIEW_SELECT} WHERE o.tenant_id = ?1 AND o.integration_id = ?2 AND o.id < ?3
             ORDER BY o.id DESC LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![tenant_id, integration_id, before_id.unwrap_or(i64::MAX), limit], overview)
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn summary_json(summary: &OverviewSummary) -> StoreResult<String> {
    serde_json::to_string(summary).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Whether the tenant has the integration (the caller's transaction).
pub(crate) fn has_integration(conn: &Connection, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM integrations WHERE tenant_id = ?1 AND id = ?2)")
        .and_then(|mut stmt| stmt.query_row(params![tenant_id, integration_id], |r| r.get(0)))
        .map_err(db_error)
}

/// Enqueues the job of a row created in the caller's transaction, with the
/// row as its subject. A job refused for its unique key would leave the
/// row with nothing to run it: that is an error, and the caller's
/// transaction rolls back.
pub(crate) fn insert_subject_job(
    conn: &Connection,
    tenant_id: i64,
    subject_id: i64,
    job: NewJob,
    now: Timestamp,
) -> StoreResult<()> {
    let job = NewJob { tenant_id: Some(tenant_id), subject_id: Some(subject_id), ..job };
    match crate::jobs::insert(conn, &job, now)? {
        Some(_) => Ok(()),
        None => Err(StoreError::Conflict(format!(
            "an unfinished job holds the unique key of the {} job of {subject_id}",
            job.kind
        ))),
    }
}

fn create(
    conn: &mut Connection,
    tenant_id: i64,
    integration_id: i64,
    created_by: i64,
    job: NewJob,
    now: Timestamp,
) -> StoreResult<Option<Overview>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    if !has_integration(&tx, tenant_id, integration_id)? {
        return Ok(None);
    }
    let summary = summary_json(&OverviewSummary::default())?;
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO overviews (tenant_id, integration_id, created_by, created_at, status, summary, backgrounded)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, 0) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant_id, integration_id, created_by, ms(now), summary], |r| r.get(0))
        })
        .map_err(db_error)?;
    insert_subject_job(&tx, tenant_id, id, job, now)?;
    let created = get(&tx, tenant_id, id)?;
    tx.commit().map_err(db_error)?;
    Ok(created)
}

fn add_changes(
    conn: &mut Connection,
    tenant_id: i64,
    overview_id: i64,
    changes: &[OverviewChange],
) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM overviews WHERE tenant_id = ?1 AND id = ?2")
        .and_then(|mut stmt| stmt.query_row(params![tenant_id, overview_id], |r| r.get(0)).optional())
        .map_err(db_error)?;
    if status.as_deref() != Some(OverviewStatus::Running.as_str()) {
        return Ok(false);
    }
    {
        // One prepared statement for the page, one transaction: an overview
        // may hold a million changes, added a page at a time.
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO overview_changes (overview_id, seq, action, external_id, remote_id, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (overview_id, seq) DO NOTHING",
            )
            .map_err(db_error)?;
        for c in changes {
            stmt.execute(params![
                overview_id,
                c.seq,
                c.action.as_str(),
                c.external_id,
                c.remote_id,
                c.detail.to_string()
            ])
            .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(true)
}

fn change(row: &Row<'_>) -> rusqlite::Result<OverviewChange> {
    let action: String = row.get(1)?;
    Ok(OverviewChange {
        seq: row.get(0)?,
        action: ChangeAction::parse(&action).ok_or_else(|| corrupt("change action", &action))?,
        external_id: row.get(2)?,
        remote_id: row.get(3)?,
        detail: json(&row.get::<_, String>(4)?)?,
    })
}

fn list_changes(
    conn: &Connection,
    tenant_id: i64,
    overview_id: i64,
    action: Option<ChangeAction>,
    after_seq: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<OverviewChange>> {
    // Two statements rather than `(?5 IS NULL OR action = ?5)`, so each
    // walks its own index: (overview_id, seq) or (overview_id, action, seq).
    let filter = if action.is_some() { "AND action = ?5" } else { "AND ?5 IS NULL" };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT seq, action, external_id, remote_id, detail FROM overview_changes
             WHERE overview_id = ?2 AND seq > ?3 {filter}
               AND EXISTS (SELECT 1 FROM overviews WHERE id = ?2 AND tenant_id = ?1)
             ORDER BY seq LIMIT ?4"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(
            params![tenant_id, overview_id, after_seq.unwrap_or(i64::MIN), limit, action.map(ChangeAction::as_str)],
            change,
        )
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn last_seq(conn: &Connection, tenant_id: i64, overview_id: i64) -> StoreResult<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(max(seq), 0) FROM overview_changes
         WHERE overview_id = ?2 AND EXISTS (SELECT 1 FROM overviews WHERE id = ?2 AND tenant_id = ?1)",
    )
    .and_then(|mut stmt| stmt.query_row(params![tenant_id, overview_id], |r| r.get(0)))
    .map_err(db_error)
}

fn background(conn: &mut Connection, tenant_id: i64, overview_id: i64) -> StoreResult<bool> {
    conn.prepare_cached("UPDATE overviews SET backgrounded = 1 WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'")
        .and_then(|mut stmt| stmt.execute(params![tenant_id, overview_id]))
        .map(|n| n > 0)
        .map_err(db_error)
}

/// What an operation's end stores besides its row.
pub(crate) struct Ending<'a> {
    pub notification: Option<&'a NewNotification>,
    pub now: Timestamp,
}

/// Creates the notification of an operation that ended while
/// `backgrounded` (read under the write lock, by the update that ended
/// it). Returns whether an email job was enqueued, so the caller wakes the
/// job workers after its commit.
pub(crate) fn notify_if_backgrounded(
    conn: &Connection,
    tenant_id: i64,
    backgrounded: bool,
    ending: &Ending<'_>,
) -> StoreResult<bool> {
    match ending.notification {
        Some(notification) if backgrounded => {
            crate::notifications::insert(conn, tenant_id, notification, ending.now)?;
            Ok(notification.email_job.is_some())
        }
        _ => Ok(false),
    }
}

fn finish(
    conn: &mut Connection,
    tenant_id: i64,
    overview_id: i64,
    status: OverviewStatus,
    summary: &OverviewSummary,
    error: Option<&str>,
    ending: &Ending<'_>,
) -> StoreResult<Option<(Overview, bool)>> {
    if status == OverviewStatus::Running {
        return Err(StoreError::Refused("an overview ends ready or failed, not running".into()));
    }
    let summary = summary_json(summary)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let backgrounded: Option<bool> = tx
        .prepare_cached(
            "UPDATE overviews SET status = ?3, summary = ?4, error = ?5, finished_at = ?6
             WHERE tenant_id = ?1 AND id = ?2 AND status = 'running'
             RETURNING backgrounded",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![tenant_id, overview_id, status.as_str(), summary, error, ms(ending.now)], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(db_error)?;
    let Some(backgrounded) = backgrounded else { return Ok(None) };
    let emails = notify_if_backgrounded(&tx, tenant_id, backgrounded, ending)?;
    let finished = get(&tx, tenant_id, overview_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("overview {overview_id} vanished while it ended")))?;
    tx.commit().map_err(db_error)?;
    Ok(Some((finished, emails)))
}

#[async_trait]
impl OverviewStore for SqliteStore {
    async fn create_overview(
        &self,
        tenant_id: i64,
        integration_id: i64,
        created_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>> {
        let created = self.write(|conn| create(conn, tenant_id, integration_id, created_by, job, now))?;
        if created.is_some() {
            self.wake_job_workers();
        }
        Ok(created)
    }

    async fn get_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>> {
        self.read(|conn| get(conn, tenant_id, overview_id))
    }

    async fn overviews_by_ids(&self, tenant_id: i64, overview_ids: &[i64]) -> StoreResult<Vec<Overview>> {
        self.read(|conn| by_ids(conn, tenant_id, overview_ids))
    }

    async fn list_overviews(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Overview>> {
        self.read(|conn| list(conn, tenant_id, integration_id, before_id, limit))
    }

    async fn add_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        changes: Vec<OverviewChange>,
    ) -> StoreResult<bool> {
        self.write(|conn| add_changes(conn, tenant_id, overview_id, &changes))
    }

    async fn list_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        action: Option<ChangeAction>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<OverviewChange>> {
        self.read(|conn| list_changes(conn, tenant_id, overview_id, action, after_seq, limit))
    }

    async fn last_overview_seq(&self, tenant_id: i64, overview_id: i64) -> StoreResult<i64> {
        self.read(|conn| last_seq(conn, tenant_id, overview_id))
    }

    async fn background_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<bool> {
        self.write(|conn| background(conn, tenant_id, overview_id))
    }

    async fn finish_overview(
        &self,
        tenant_id: i64,
        overview_id: i64,
        status: OverviewStatus,
        summary: OverviewSummary,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>> {
        let ending = Ending { notification: notification.as_ref(), now };
        let finished =
            self.write(|conn| finish(conn, tenant_id, overview_id, status, &summary, error.as_deref(), &ending))?;
        Ok(finished.map(|(overview, emails)| {
            if emails {
                self.wake_job_workers();
            }
            overview
        }))
    }
}
