//! Sync Now and Sync Logs: a full sync of an integration, applied, and the
//! persistent record of every operation it made.
//!
//! `POST /v1/integrations/{id}/sync-runs` starts one (applying exactly an
//! overview's changes when the body names a valid `overview_id`) and waits
//! like an overview does: `201` with the run when it ended in time, `202`
//! with `status: running` otherwise. One run per integration at a time: a
//! second gets `409` naming the running one. A run and its log never
//! expire.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lockstep_store::{ChangeAction, LogOutcome, SyncError, SyncLogEntry, SyncRun, SyncRunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::cursor::{page_params, List};
use super::extract::{AuthAdmin, OptionalJson, Path};
use super::overviews::start_error;
use super::problem::{ApiError, Problem};
use crate::engine::operations::Waited;
use crate::http::AppState;

/// How many operations of each kind a run made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunCounts {
    pub created: i64,
    pub updated: i64,
    pub deactivated: i64,
    pub unchanged: i64,
    pub failed: i64,
}

/// A Sync Now run as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRunBody {
    pub id: i64,
    pub integration_id: i64,
    /// The overview it applied, when started with one.
    pub overview_id: Option<i64>,
    /// The admin who started it.
    pub started_by: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `partially_failed` or `failed`.
    #[schema(value_type = String)]
    pub status: SyncRunStatus,
    /// Why the run as a whole failed.
    pub error: Option<String>,
    pub counts: RunCounts,
}

impl From<SyncRun> for SyncRunBody {
    fn from(r: SyncRun) -> Self {
        SyncRunBody {
            id: r.id,
            integration_id: r.integration_id,
            overview_id: r.overview_id,
            started_by: r.started_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            error: r.error,
            counts: RunCounts {
                created: r.counts.created,
                updated: r.counts.updated,
                deactivated: r.counts.deactivated,
                unchanged: r.counts.unchanged,
                failed: r.counts.failed,
            },
        }
    }
}

/// What to apply; an empty body applies a full sync.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSyncRun {
    /// Apply exactly this overview's changes (with the records' current
    /// values). It must be valid and ready, else 409.
    #[schema(minimum = 1)]
    pub overview_id: Option<i64>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunPage {
    pub data: Vec<SyncRunBody>,
    pub next_cursor: Option<String>,
}

/// An error a third party reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

impl From<SyncError> for ErrorBody {
    fn from(e: SyncError) -> Self {
        ErrorBody { field: e.field, code: e.code, message: e.message }
    }
}

/// One operation of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntryBody {
    /// The record's id.
    pub record_id: String,
    /// `create`, `update` or `deactivate`.
    #[schema(value_type = String)]
    pub action: ChangeAction,
    /// What was written: third-party attribute → value.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// `succeeded` or `failed`.
    #[schema(value_type = String)]
    pub outcome: LogOutcome,
    /// The third party's errors, for a failed operation.
    pub errors: Vec<ErrorBody>,
    pub at: DateTime<Utc>,
}

impl From<SyncLogEntry> for LogEntryBody {
    fn from(e: SyncLogEntry) -> Self {
        LogEntryBody {
            record_id: e.external_id,
            action: e.action,
            attributes: e.attributes,
            outcome: e.outcome,
            errors: e.errors.into_iter().map(ErrorBody::from).collect(),
            at: e.at,
        }
    }
}

/// A page of a run's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub data: Vec<LogEntryBody>,
    pub next_cursor: Option<String>,
}

/// The query of a page of a log.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only operations with this outcome: `succeeded` or `failed`.
    #[param(pattern = "^(succeeded|failed)$")]
    pub outcome: Option<String>,
    /// Entries per page: 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of the same list, unchanged.
    pub cursor: Option<String>,
}

/// The query of a page of runs.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Runs per page: 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of the same list, unchanged.
    pub cursor: Option<String>,
}

/// Starts a Sync Now of an integration.
#[utoipa::path(post, path = "/v1/integrations/{id}/sync-runs", tag = "sync runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    request_body(content = Option<StartSyncRun>, description = "Optional: `overview_id` to apply exactly that overview's changes"),
    responses(
        (status = 201, description = "The run, ended within the tenant's `background_after_seconds`", body = SyncRunBody),
        (status = 202, description = "Still running: it goes on in the background and the caller is notified when it ends", body = SyncRunBody),
        (status = 404, description = "No such integration in the tenant", body = Problem),
        (status = 409, description = "Another run of the integration is running (named in `detail`), or the overview is no longer valid", body = Problem),
        (status = 422, description = "The integration's connector cannot list users, or a bad body", body = Problem),
    ))]
pub async fn create_sync_run(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(integration_id): Path<i64>,
    OptionalJson(body): OptionalJson<StartSyncRun>,
) -> Result<(StatusCode, axum::Json<SyncRunBody>), ApiError> {
    let overview_id = body.unwrap_or_default().overview_id;
    let waited = state
        .engine
        .start_sync_run(caller.tenant_id, integration_id, overview_id, caller.admin_id)
        .await
        .map_err(|e| start_error(e, integration_id))?;
    Ok(match waited {
        Waited::Done(run) => (StatusCode::CREATED, axum::Json(run.into())),
        Waited::Background(run) => (StatusCode::ACCEPTED, axum::Json(run.into())),
    })
}

/// An integration's runs, newest first.
#[utoipa::path(get, path = "/v1/integrations/{id}/sync-runs", tag = "sync runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id"), RunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = SyncRunPage),
        (status = 400, description = "A bad limit or cursor, named in `errors`", body = Problem),
        (status = 404, description = "No such integration in the tenant", body = Problem),
    ))]
pub async fn list_sync_runs(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(integration_id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<SyncRunPage>, ApiError> {
    let params = page_params(query.as_deref(), None)?;
    let list = List { kind: "runs", tenant_id: caller.tenant_id, parent: integration_id };
    let before = params.cursor.as_deref().map(|c| list.position(c)).transpose()?;
    let store = state.engine.store();
    store
        .get_integration(caller.tenant_id, integration_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no integration {integration_id}")))?;
    let mut runs = store.list_sync_runs(caller.tenant_id, integration_id, before, params.limit + 1).await?;
    let next_cursor = if runs.len() > params.limit as usize {
        runs.truncate(params.limit as usize);
        runs.last().map(|r| list.cursor(r.id))
    } else {
        None
    };
    Ok(axum::Json(SyncRunPage { data: runs.into_iter().map(SyncRunBody::from).collect(), next_cursor }))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no sync run {id}"))
}

/// One run.
#[utoipa::path(get, path = "/v1/sync-runs/{id}", tag = "sync runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = SyncRunBody),
        (status = 404, description = "No such run in the tenant", body = Problem),
    ))]
pub async fn get_sync_run(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<SyncRunBody>, ApiError> {
    let run = state.engine.store().get_sync_run(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    Ok(axum::Json(run.into()))
}

/// A page of a run's Sync Log, in the order the operations were recorded.
#[utoipa::path(get, path = "/v1/sync-runs/{id}/log", tag = "sync runs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The run's id"), LogQuery),
    responses(
        (status = 200, description = "A page of the log", body = LogPage),
        (status = 400, description = "A bad outcome, limit or cursor, named in `errors`", body = Problem),
        (status = 404, description = "No such run in the tenant", body = Problem),
    ))]
pub async fn list_log(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<LogPage>, ApiError> {
    let params = page_params(query.as_deref(), Some("outcome"))?;
    let outcome = params
        .filter
        .as_deref()
        .map(|o| {
            LogOutcome::parse(o)
                .ok_or_else(|| ApiError::bad_parameter("outcome", format!("must be succeeded or failed; got `{o}`")))
        })
        .transpose()?;
    let list = List { kind: "log", tenant_id: caller.tenant_id, parent: id };
    let after = params.cursor.as_deref().map(|c| list.position(c)).transpose()?;
    let store = state.engine.store();
    store.get_sync_run(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut entries = store.list_sync_run_log(caller.tenant_id, id, outcome, after, params.limit + 1).await?;
    let next_cursor = if entries.len() > params.limit as usize {
        entries.truncate(params.limit as usize);
        entries.last().map(|e| list.cursor(e.seq))
    } else {
        None
    };
    Ok(axum::Json(LogPage { data: entries.into_iter().map(LogEntryBody::from).collect(), next_cursor }))
}
