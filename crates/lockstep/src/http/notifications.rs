//! Notifications: what an admin is told when background work they started
//! ends. The caller's own only (another admin's is a 404), newest first,
//! with how many are unseen. Each carries its target and whether it is
//! still valid, decided now by the target's rules: a Sync Overview
//! notification stops being valid with its overview; a Sync Complete
//! notification never does.

use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use lockstep_store::Notification;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::cursor::{page_params, List};
use super::extract::{AuthAdmin, Path};
use super::problem::{ApiError, Problem};
use crate::domain::validity::InvalidReason;
use crate::http::AppState;

/// What a notification is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetBody {
    /// `overview` or `sync_run`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
}

/// A notification as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationBody {
    pub id: i64,
    /// `sync_overview_ready`, `sync_overview_failed`, `sync_complete` or `sync_run_failed`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub target: TargetBody,
    /// Whether its target may still be shown as current.
    pub valid: bool,
    pub invalid_reason: Option<InvalidReason>,
}

fn body(n: Notification, reason: Option<InvalidReason>) -> NotificationBody {
    NotificationBody {
        id: n.id,
        kind: n.kind,
        created_at: n.created_at,
        seen_at: n.seen_at,
        read_at: n.read_at,
        target: TargetBody { kind: n.target_type.as_str().to_owned(), id: n.target_id },
        valid: reason.is_none(),
        invalid_reason: reason,
    }
}

/// A page of the caller's notifications, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub data: Vec<NotificationBody>,
    /// How many of the caller's notifications are unseen.
    pub unseen_count: i64,
    pub next_cursor: Option<String>,
}

/// How many notifications were marked seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedSeen {
    pub marked: u64,
    pub unseen_count: i64,
}

/// The query of a page of notifications.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Notifications per page: 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of the same list, unchanged.
    pub cursor: Option<String>,
}

async fn with_validity(state: &AppState, tenant_id: i64, n: Notification) -> Result<NotificationBody, ApiError> {
    let validity = state.engine.notification_validity(tenant_id, std::slice::from_ref(&n)).await?;
    let reason = validity.get(&n.id).copied().flatten();
    Ok(body(n, reason))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no notification {id}"))
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "A bad limit or cursor, named in `errors`", body = Problem),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn list_notifications(
    State(state): State<AppState>,
    caller: AuthAdmin,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<NotificationPage>, ApiError> {
    let params = page_params(query.as_deref(), None)?;
    let list = List { kind: "notifications", tenant_id: caller.tenant_id, parent: caller.admin_id };
    let before = params.cursor.as_deref().map(|c| list.position(c)).transpose()?;
    let store = state.engine.store();
    let mut page = store.list_notifications(caller.tenant_id, caller.admin_id, before, params.limit + 1).await?;
    let next_cursor = if page.len() > params.limit as usize {
        page.truncate(params.limit as usize);
        page.last().map(|n| list.cursor(n.id))
    } else {
        None
    };
    let unseen_count = store.unseen_notifications(caller.tenant_id, caller.admin_id).await?;
    let validity = state.engine.notification_validity(caller.tenant_id, &page).await?;
    let data = page
        .into_iter()
        .map(|n| {
            let reason = validity.get(&n.id).copied().flatten();
            body(n, reason)
        })
        .collect();
    Ok(axum::Json(NotificationPage { data, unseen_count, next_cursor }))
}

/// Marks one of the caller's notifications seen (it keeps its first time).
#[utoipa::path(post, path = "/v1/notifications/{id}/seen", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "The notification", body = NotificationBody),
        (status = 404, description = "No such notification of the caller", body = Problem),
    ))]
pub async fn mark_seen(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<NotificationBody>, ApiError> {
    mark(state, caller, id, false).await
}

/// Marks one of the caller's notifications read (and seen).
#[utoipa::path(post, path = "/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "The notification", body = NotificationBody),
        (status = 404, description = "No such notification of the caller", body = Problem),
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<NotificationBody>, ApiError> {
    mark(state, caller, id, true).await
}

async fn mark(
    state: AppState,
    caller: AuthAdmin,
    id: i64,
    read: bool,
) -> Result<axum::Json<NotificationBody>, ApiError> {
    let now = state.engine.clock().now();
    let n = state
        .engine
        .store()
        .mark_notification(caller.tenant_id, caller.admin_id, id, read, now)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(axum::Json(with_validity(&state, caller.tenant_id, n).await?))
}

/// Marks every notification of the caller created until now seen.
#[utoipa::path(post, path = "/v1/notifications/seen", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were marked", body = MarkedSeen),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn mark_all_seen(
    State(state): State<AppState>,
    caller: AuthAdmin,
) -> Result<axum::Json<MarkedSeen>, ApiError> {
    let store = state.engine.store();
    let now = state.engine.clock().now();
    let marked = store.mark_all_notifications_seen(caller.tenant_id, caller.admin_id, now).await?;
    let unseen_count = store.unseen_notifications(caller.tenant_id, caller.admin_id).await?;
    Ok(axum::Json(MarkedSeen { marked, unseen_count }))
}
