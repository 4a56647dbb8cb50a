//! Sync Overviews: a preview of what a full sync of an integration would
//! change in the third party, saved as a snapshot.
//!
//! `POST /v1/integrations/{id}/overviews` starts one and waits up to the
//! tenant's `background_after_seconds`: `201` with the overview when it is
//! ready in time, `202` with `status: running` when it goes on in the
//! background (the admin is notified when it ends). Its validity is
//! decided whenever it is read: an overview that is no longer the newest
//! of its integration, or is older than the tenant's validity period,
//! answers `valid: false` with its reason, and neither its summary nor its
//! changes are served.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lockstep_store::{ChangeAction, OverviewChange, OverviewStatus, OverviewSummary};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::cursor::{page_params, List};
use super::extract::{AuthAdmin, Path};
use super::problem::{ApiError, Problem};
use crate::domain::validity::InvalidReason;
use crate::engine::operations::{OverviewView, StartError, Waited};
use crate::http::AppState;

/// A Sync Overview as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverviewBody {
    pub id: i64,
    pub integration_id: i64,
    /// The admin who started it.
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ready` or `failed`.
    #[schema(value_type = String)]
    pub status: OverviewStatus,
    /// Whether its data may be shown as current: it is the newest overview
    /// of its integration and younger than the tenant's validity period.
    pub valid: bool,
    /// Why it is not valid: `superseded`, `expired`, `integration_deleted`.
    pub invalid_reason: Option<InvalidReason>,
    /// Why it failed (`status` failed).
    pub error: Option<String>,
    /// Counts per action, plus `unchanged` and `unmanaged`; null while it
    /// runs and once it is no longer valid.
    pub summary: Option<SummaryBody>,
}

/// How many changes of each kind an overview found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryBody {
    pub create: i64,
    pub update: i64,
    pub deactivate: i64,
    pub error: i64,
    pub unchanged: i64,
    pub unmanaged: i64,
}

impl From<OverviewSummary> for SummaryBody {
    fn from(s: OverviewSummary) -> Self {
        SummaryBody {
            create: s.create,
            update: s.update,
            deactivate: s.deactivate,
            error: s.error,
            unchanged: s.unchanged,
            unmanaged: s.unmanaged,
        }
    }
}

impl From<OverviewView> for OverviewBody {
    fn from(view: OverviewView) -> Self {
        let OverviewView { overview: o, invalid_reason } = view;
        let summary = (invalid_reason.is_none() && o.status == OverviewStatus::Ready).then(|| o.summary.into());
        OverviewBody {
            id: o.id,
            integration_id: o.integration_id,
            created_by: o.created_by,
            created_at: o.created_at,
            finished_at: o.finished_at,
            status: o.status,
            valid: invalid_reason.is_none(),
            invalid_reason,
            error: o.error,
            summary,
        }
    }
}

/// One attribute a change writes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributeChange {
    /// The third-party attribute path (or `active`).
    pub target: String,
    /// What the third party holds now (null: nothing).
    #[schema(value_type = Object)]
    pub from: Value,
    /// What it would hold after a sync (null: cleared).
    #[schema(value_type = Object)]
    pub to: Value,
}

/// One change of an overview.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeBody {
    /// `create`, `update`, `deactivate` or `error`.
    #[schema(value_type = String)]
    pub action: ChangeAction,
    /// The record's id.
    pub record_id: String,
    /// The third party's id of the user, when it has one.
    pub remote_id: Option<String>,
    /// The attributes written, each with its value now and after (empty for an `error`).
    pub attributes: Vec<AttributeChange>,
    /// Why the record cannot be synced (`error` only).
    pub reason: Option<String>,
}

impl From<OverviewChange> for ChangeBody {
    fn from(c: OverviewChange) -> Self {
        let attributes = c
            .detail
            .get("attributes")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|a| AttributeChange {
                        target: a.get("target").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        from: a.get("from").cloned().unwrap_or(Value::Null),
                        to: a.get("to").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let reason = c.detail.get("reason").and_then(Value::as_str).map(str::to_owned);
        ChangeBody { action: c.action, record_id: c.external_id, remote_id: c.remote_id, attributes, reason }
    }
}

/// A page of an overview's changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    /// False when the overview is no longer valid: `data` is then empty.
    pub valid: bool,
    pub invalid_reason: Option<InvalidReason>,
    pub data: Vec<ChangeBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The query of a page of changes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Only changes of this action: `create`, `update`, `deactivate`, `error`.
    #[param(pattern = "^(create|update|deactivate|error)$")]
    pub action: Option<String>,
    /// Changes per page: 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of the same list, unchanged.
    pub cursor: Option<String>,
}

/// The problem an operation that cannot start answers with.
pub fn start_error(error: StartError, integration_id: i64) -> ApiError {
    match error {
        StartError::NoIntegration => ApiError::NotFound(format!("no integration {integration_id}")),
        StartError::CannotList(reason) => ApiError::Invalid {
            detail: format!("the integration's connector cannot list users: {reason}"),
            errors: vec![],
        },
        StartError::AlreadyRunning(run) => {
            ApiError::Conflict(format!("sync run {} of this integration is still running", run.id))
        }
        StartError::UnknownOverview(id) => ApiError::invalid_field("overview_id", format!("there is no overview {id}")),
        StartError::OverviewNotApplicable(reason) => ApiError::Conflict(reason),
        StartError::Store(error) => error.into(),
    }
}

/// Starts a Sync Overview of an integration.
#[utoipa::path(post, path = "/v1/integrations/{id}/overviews", tag = "overviews", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses(
        (status = 201, description = "The overview, ready (or failed) within the tenant's `background_after_seconds`", body = OverviewBody),
        (status = 202, description = "Still running: it goes on in the background and the caller is notified when it ends", body = OverviewBody),
        (status = 404, description = "No such integration in the tenant", body = Problem),
        (status = 422, description = "The integration's connector cannot list users", body = Problem),
    ))]
pub async fn create_overview(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(integration_id): Path<i64>,
) -> Result<(StatusCode, axum::Json<OverviewBody>), ApiError> {
    let waited = state
        .engine
        .start_overview(caller.tenant_id, integration_id, caller.admin_id)
        .await
        .map_err(|e| start_error(e, integration_id))?;
    Ok(match waited {
        Waited::Done(view) => (StatusCode::CREATED, axum::Json(view.into())),
        Waited::Background(view) => (StatusCode::ACCEPTED, axum::Json(view.into())),
    })
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no overview {id}"))
}

/// One Sync Overview, with its validity decided now.
#[utoipa::path(get, path = "/v1/overviews/{id}", tag = "overviews", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The overview's id")),
    responses(
        (status = 200, description = "The overview", body = OverviewBody),
        (status = 404, description = "No such overview in the tenant", body = Problem),
    ))]
pub async fn get_overview(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<OverviewBody>, ApiError> {
    let view = state.engine.overview(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    Ok(axum::Json(view.into()))
}

/// A page of an overview's changes; none once it is no longer valid.
#[utoipa::path(get, path = "/v1/overviews/{id}/changes", tag = "overviews", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The overview's id"), ChangeQuery),
    responses(
        (status = 200, description = "A page of changes (empty, with `valid: false`, for an overview no longer valid)", body = ChangePage),
        (status = 400, description = "A bad action, limit or cursor, named in `errors`", body = Problem),
        (status = 404, description = "No such overview in the tenant", body = Problem),
        (status = 409, description = "The overview is still running", body = Problem),
    ))]
pub async fn list_changes(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<ChangePage>, ApiError> {
    let params = page_params(query.as_deref(), Some("action"))?;
    let action = params
        .filter
        .as_deref()
        .map(|a| {
            ChangeAction::parse(a).ok_or_else(|| {
                ApiError::bad_parameter("action", format!("must be create, update, deactivate or error; got `{a}`"))
            })
        })
        .transpose()?;
    let list = List { kind: "changes", tenant_id: caller.tenant_id, parent: id };
    let after = params.cursor.as_deref().map(|c| list.position(c)).transpose()?;
    let view = state.engine.overview(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    if let Some(reason) = view.invalid_reason {
        return Ok(axum::Json(ChangePage {
            valid: false,
            invalid_reason: Some(reason),
            data: vec![],
            next_cursor: None,
        }));
    }
    match view.overview.status {
        OverviewStatus::Running => return Err(ApiError::Conflict(format!("overview {id} is still running"))),
        OverviewStatus::Failed | OverviewStatus::Ready => {}
    }
    let mut changes =
        state.engine.store().list_overview_changes(caller.tenant_id, id, action, after, params.limit + 1).await?;
    let next_cursor = if changes.len() > params.limit as usize {
        changes.truncate(params.limit as usize);
        changes.last().map(|c| list.cursor(c.seq))
    } else {
        None
    };
    let data = changes.into_iter().map(ChangeBody::from).collect();
    Ok(axum::Json(ChangePage { valid: true, invalid_reason: None, data, next_cursor }))
}
