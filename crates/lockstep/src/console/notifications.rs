//! The notification list behind the bell, and opening one.
//!
//! Opening the list marks every notification it shows seen, after reading
//! them, so the page still tells which were new, and so that no email
//! follows for them (an email goes out only for a notification still
//! unseen after the tenant's delay). Opening a notification marks it read
//! and goes to its target's page, which applies the target's validity
//! rules: a Sync Overview that is no longer valid says so and shows none
//! of its data; a Sync Log is always there.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lockstep_store::{Notification, TargetType};

use super::page::{render, Chrome, PageError};
use super::records::rfc3339;
use super::session::ConsoleAdmin;
use crate::engine::notify::NotificationKind;
use crate::http::AppState;

/// Notifications per page.
const PAGE_SIZE: u32 = 50;

/// What a notification says, by its kind.
pub fn headline(n: &Notification) -> String {
    let target = match n.target_type {
        TargetType::Overview => format!("Sync Overview {}", n.target_id),
        TargetType::SyncRun => format!("Sync Now run {}", n.target_id),
    };
    match NotificationKind::parse(&n.kind) {
        Some(NotificationKind::SyncOverviewReady) => format!("{target} is ready"),
        Some(NotificationKind::SyncOverviewFailed) => format!("{target} failed"),
        Some(NotificationKind::SyncComplete) => format!("Sync complete: {target} has finished"),
        Some(NotificationKind::SyncRunFailed) => format!("{target} failed"),
        None => target,
    }
}

struct Row {
    id: i64,
    headline: String,
    created_at: String,
    new: bool,
    /// Why its target can no longer be shown, if so.
    invalid: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    next_href: Option<String>,
}

/// `GET /console/notifications?before=`: the admin's notifications, newest
/// first; every one listed is marked seen.
pub async fn list(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let before = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "before")
        .map(|(_, v)| v.parse::<i64>().map_err(|_| PageError::bad_request("`before` must be a whole number")))
        .transpose()?;
    let store = state.engine.store();
    let mut notifications = store.list_notifications(admin.tenant_id, admin.admin_id, before, PAGE_SIZE + 1).await?;
    let more = notifications.len() > PAGE_SIZE as usize;
    notifications.truncate(PAGE_SIZE as usize);
    let validity = state.engine.notification_validity(admin.tenant_id, &notifications).await?;
    // Marked after the read, so this page shows which were new; at `now`,
    // so one created after the read stays unseen and keeps the bell's count.
    let now = state.engine.clock().now();
    store.mark_all_notifications_seen(admin.tenant_id, admin.admin_id, now).await?;
    let next_href =
        more.then(|| notifications.last().map(|n| format!("/console/notifications?before={}", n.id))).flatten();
    let rows = notifications
        .iter()
        .map(|n| Row {
            id: n.id,
            headline: headline(n),
            created_at: rfc3339(n.created_at),
            new: n.seen_at.is_none(),
            invalid: validity.get(&n.id).copied().flatten().map(|r| r.explanation()),
        })
        .collect();
    let chrome = Chrome::new(&state, &admin, "Notifications", "notifications", "").await?;
    render(&NotificationsPage { chrome, rows, next_href })
}

/// `GET /console/notifications/{id}`: marks it read and opens its target.
pub async fn open(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let now = state.engine.clock().now();
    let n = state
        .engine
        .store()
        .mark_notification(admin.tenant_id, admin.admin_id, id, true, now)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no notification {id}.")))?;
    let location = match n.target_type {
        TargetType::Overview => format!("/console/overviews/{}", n.target_id),
        TargetType::SyncRun => format!("/console/sync-runs/{}", n.target_id),
    };
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response())
}
