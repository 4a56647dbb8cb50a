//! Sync Overviews ([`OverviewStore`]): the saved previews of a full sync,
//! their changes, and the notification an overview's end may create.
//!
//! Whether an overview is still valid is the app's to judge; what it judges
//! by is computed here on every read, never stored: `superseded_by` is the
//! newest overview of the same integration when that is another one (index
//! `overviews_by_integration`), and `integration_exists` whether the
//! integration is still there. A stored flag would have to be cleared by
//! every later create and every integration delete. What a Sync Now run
//! shares with an overview is here too: the check that the tenant has the
//! integration, the job enqueued with the new row as its subject, and the
//! notification of an end in the background.
//!
//! **Ordering with the overview's end.** Changes are added under a share
//! lock of the overview row, and its end is an update of that row, so an
//! end waits for a page being added and a page that comes after the end
//! finds the overview no longer running. The end reads `backgrounded` in
//! its own update (under the row's lock, and re-read at its latest version
//! if a concurrent `background_overview` committed first), so a request
//! that stopped waiting is either seen by the end, which notifies, or comes
//! after it and finds the overview ended: never neither.

use async_trait::async_trait;
use lockstep_store::{
    ChangeAction, NewJob, NewNotification, Overview, OverviewChange, OverviewStatus, OverviewStore, OverviewSummary,
    StoreError, StoreResult, Timestamp,
};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{corrupt, db_error, ms, PgStore};

/// An overview with what is computed when it is read.
const OVERVIEW_SELECT: &str = "SELECT o.id, o.tenant_id, o.integration_id, o.created_by, o.created_at, o.finished_at,
        o.status, o.error, o.summary, o.backgrounded,
        (SELECT max(n.id) FROM overviews AS n WHERE n.integration_id = o.integration_id) AS newest,
        EXISTS (SELECT 1 FROM integrations AS i WHERE i.tenant_id = o.tenant_id AND i.id = o.integration_id)
            AS integration_exists
     FROM overviews AS o";

fn overview_from_row(row: &PgRow) -> StoreResult<Overview> {
    let id: i64 = row.try_get("id").map_err(corrupt)?;
    let status: String = row.try_get("status").map_err(corrupt)?;
    let summary: Value = row.try_get("summary").map_err(corrupt)?;
    let newest: i64 = row.try_get("newest").map_err(corrupt)?;
    Ok(Overview {
        id,
        tenant_id: row.try_get("tenant_id").map_err(corrupt)?,
        integration_id: row.try_get("integration_id").map_err(corrupt)?,
        created_by: row.try_get("created_by").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
        finished_at: row.try_get("finished_at").map_err(corrupt)?,
        status: OverviewStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown overview status {status:?}")))?,
        error: row.try_get("error").map_err(corrupt)?,
        summary: serde_json::from_value(summary).map_err(corrupt)?,
        backgrounded: row.try_get("backgrounded").map_err(corrupt)?,
        superseded_by: (newest != id).then_some(newest),
        integration_exists: row.try_get("integration_exists").map_err(corrupt)?,
    })
}

async fn get(conn: &mut PgConnection, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>> {
    let row = sqlx::query(&format!("{OVERVIEW_SELECT} WHERE o.tenant_id = $1 AND o.id = $2"))
        .bind(tenant_id)
        .bind(overview_id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(overview_from_row).transpose()
}

/// Whether the tenant has the integration.
pub(crate) async fn has_integration(conn: &mut PgConnection, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM integrations WHERE tenant_id = $1 AND id = $2)")
        .bind(tenant_id)
        .bind(integration_id)
        .fetch_one(conn)
        .await
        .map_err(db_error)
}

/// Enqueues the job of a row created in the caller's transaction, with the
/// row as its subject. A job refused for its unique key would leave the
/// row with nothing to run it: that is an error, and the caller's
/// transaction rolls back.
pub(crate) async fn insert_subject_job(
    conn: &mut PgConnection,
    tenant_id: i64,
    subject_id: i64,
    job: NewJob,
    now: Timestamp,
) -> StoreResult<()> {
    let job = NewJob { tenant_id: Some(tenant_id), subject_id: Some(subject_id), ..job };
    match crate::jobs::insert(conn, &job, now).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Conflict(format!(
            "an unfinished job holds the unique key of the {} job of {subject_id}",
            job.kind
        ))),
    }
}

/// Creates the notification of an operation that ended while
/// `backgrounded` (as its ending update read it, under the row's lock).
/// Returns whether an email job was enqueued, so the caller wakes the job
/// workers after its commit.
pub(crate) async fn notify_if_backgrounded(
    conn: &mut PgConnection,
    tenant_id: i64,
    backgrounded: bool,
    notification: Option<&NewNotification>,
    now: Timestamp,
) -> StoreResult<bool> {
    match notification {
        Some(notification) if backgrounded => {
            crate::notifications::insert(conn, tenant_id, notification, now).await?;
            Ok(notification.email_job.is_some())
        }
        _ => Ok(false),
    }
}

fn summary_json(summary: &OverviewSummary) -> StoreResult<Value> {
    serde_json::to_value(summary).map_err(corrupt)
}

fn change_from_row(row: &PgRow) -> StoreResult<OverviewChange> {
    let action: String = row.try_get("action").map_err(corrupt)?;
    Ok(OverviewChange {
        seq: row.try_get("seq").map_err(corrupt)?,
        action: ChangeAction::parse(&action)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown change action {action:?}")))?,
        external_id: row.try_get("external_id").map_err(corrupt)?,
        remote_id: row.try_get("remote_id").map_err(corrupt)?,
        detail: row.try_get("detail").map_err(corrupt)?,
    })
}

#[async_trait]
impl OverviewStore for PgStore {
    async fn create_overview(
        &self,
        tenant_id: i64,
        integration_id: i64,
        created_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>> {
        let now = ms(now);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if !has_integration(&mut tx, tenant_id, integration_id).await? {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO overviews (tenant_id, integration_id, created_by, created_at, status, summary, backgrounded)
             VALUES ($1, $2, $3, $4, 'running', $5, false) RETURNING id",
        )
        .bind(tenant_id)
        .bind(integration_id)
        .bind(created_by)
        .bind(now)
        .bind(summary_json(&OverviewSummary::default())?)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_subject_job(&mut tx, tenant_id, id, job, now).await?;
        let created = get(&mut tx, tenant_id, id).await?;
        tx.commit().await.map_err(db_error)?;
        self.wake_job_workers();
        Ok(created)
    }

    async fn get_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        get(&mut conn, tenant_id, overview_id).await
    }

    async fn overviews_by_ids(&self, tenant_id: i64, overview_ids: &[i64]) -> StoreResult<Vec<Overview>> {
        let rows = sqlx::query(&format!("{OVERVIEW_SELECT} WHERE o.tenant_id = $1 AND o.id = ANY($2)"))
            .bind(tenant_id)
            .bind(overview_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(overview_from_row).collect()
    }

    /// Walks an index backwards from the cursor: `overviews_by_integration`,
    /// or the primary key where the integration holds most overviews.
    async fn list_overviews(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Overview>> {
        let rows = sqlx::query(&format!(
            "{OVERVIEW_SELECT} WHERE o.tenant_id = $1 AND o.integration_id = $2 AND o.id < $3
             ORDER BY o.id DESC LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(integration_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(overview_from_row).collect()
    }

    async fn add_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        changes: Vec<OverviewChange>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Shared: pages may be added side by side; the end waits for them.
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM overviews WHERE tenant_id = $1 AND id = $2 FOR SHARE")
                .bind(tenant_id)
                .bind(overview_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if status.as_deref() != Some(OverviewStatus::Running.as_str()) {
            return Ok(false);
        }
        // One statement for the page, whatever its size: an overview may
        // hold a million changes.
        sqlx::query(
            "INSERT INTO overview_changes (overview_id, seq, action, external_id, remote_id, detail)
             SELECT $1, u.* FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
                 AS u (seq, action, external_id, remote_id, detail)
             ON CONFLICT (overview_id, seq) DO NOTHING",
        )
        .bind(overview_id)
        .bind(changes.iter().map(|c| c.seq).collect::<Vec<i64>>())
        .bind(changes.iter().map(|c| c.action.as_str()).collect::<Vec<&str>>())
        .bind(changes.iter().map(|c| c.external_id.as_str()).collect::<Vec<&str>>())
        .bind(changes.iter().map(|c| c.remote_id.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(changes.iter().map(|c| &c.detail).collect::<Vec<&Value>>())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn list_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        action: Option<ChangeAction>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<OverviewChange>> {
        // Two statements rather than `($5 IS NULL OR action = $5)`, so each
        // has a plan of its own index: (overview_id, seq) or (overview_id,
        // action, seq).
        let filter = if action.is_some() { "AND action = $5" } else { "AND $5::text IS NULL" };
        let rows = sqlx::query(&format!(
            "SELECT seq, action, external_id, remote_id, detail FROM overview_changes
             WHERE overview_id = $2 AND seq > $3 {filter}
               AND EXISTS (SELECT 1 FROM overviews WHERE id = $2 AND tenant_id = $1)
             ORDER BY seq LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(overview_id)
        .bind(after_seq.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .bind(action.map(ChangeAction::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(change_from_row).collect()
    }

    async fn last_overview_seq(&self, tenant_id: i64, overview_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COALESCE(max(seq), 0) FROM overview_changes
             WHERE overview_id = $2 AND EXISTS (SELECT 1 FROM overviews WHERE id = $2 AND tenant_id = $1)",
        )
        .bind(tenant_id)
        .bind(overview_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn background_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE overviews SET backgrounded = true WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
        )
        .bind(tenant_id)
        .bind(overview_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
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
        if status == OverviewStatus::Running {
            return Err(StoreError::Refused("an overview ends ready or failed, not running".into()));
        }
        let now = ms(now);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let backgrounded: Option<bool> = sqlx::query_scalar(
            "UPDATE overviews SET status = $3, summary = $4, error = $5, finished_at = $6
             WHERE tenant_id = $1 AND id = $2 AND status = 'running'
             RETURNING backgrounded",
        )
        .bind(tenant_id)
        .bind(overview_id)
        .bind(status.as_str())
        .bind(summary_json(&summary)?)
        .bind(error)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(backgrounded) = backgrounded else { return Ok(None) };
        let emails = notify_if_backgrounded(&mut tx, tenant_id, backgrounded, notification.as_ref(), now).await?;
        let finished = get(&mut tx, tenant_id, overview_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("overview {overview_id} vanished while it ended")))?;
        tx.commit().await.map_err(db_error)?;
        if emails {
            self.wake_job_workers();
        }
        Ok(Some(finished))
    }
}
