//! The integrations pages: the tenant's integrations with how many records
//! are in each status; one integration's page with its mapping,
//! eligibility and grace period, its recent overviews and runs, and the
//! buttons *Run Sync Overview* and *Sync Now*.
//!
//! Both buttons start the operation as the API does (see
//! [`crate::engine::operations`]): the request waits up to the tenant's
//! `background_after_seconds`, then goes to the overview's or the run's
//! page. When the operation outlasts that, the page opens with a modal
//! saying it goes on in the background and a notification will follow.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use lockstep_store::SyncStatus;
use serde::Deserialize;

use super::page::{render, Chrome, PageError};
use super::records::rfc3339;
use super::session::ConsoleAdmin;
use super::words::{self, Shown};
use crate::engine::operations::Waited;
use crate::http::integrations::IntegrationView;
use crate::http::overviews::start_error;
use crate::http::AppState;

/// Overviews and runs an integration's page lists.
const RECENT: u32 = 10;

/// One integration in the list.
struct ListRow {
    id: i64,
    name: String,
    record_type: String,
    base_url: String,
    /// (status, count) for each status, in the badge's order.
    counts: Vec<(Shown, i64)>,
}

#[derive(Template)]
#[template(path = "console/integrations.html")]
struct IntegrationsPage {
    chrome: Chrome,
    rows: Vec<ListRow>,
}

/// The statuses in the order an admin cares about them.
const STATUS_ORDER: [SyncStatus; 4] =
    [SyncStatus::Failed, SyncStatus::Syncing, SyncStatus::Pending, SyncStatus::Synced];

/// `GET /console/integrations`.
pub async fn list(State(state): State<AppState>, admin: ConsoleAdmin) -> Result<Response, PageError> {
    let store = state.engine.store();
    let integrations = store.list_integrations(admin.tenant_id).await?;
    let mut counts: BTreeMap<(i64, &'static str), i64> = BTreeMap::new();
    for (integration_id, status, count) in store.integration_status_counts(admin.tenant_id).await? {
        counts.insert((integration_id, status.as_str()), count);
    }
    let rows = integrations
        .into_iter()
        .map(|stored| {
            let id = stored.id;
            let base_url =
                IntegrationView::from_stored(stored.clone()).map(|v| v.connector.base_url).unwrap_or_default();
            ListRow {
                id,
                name: stored.name,
                record_type: stored.record_type,
                base_url,
                counts: STATUS_ORDER
                    .iter()
                    .map(|s| (words::sync_status(*s), counts.get(&(id, s.as_str())).copied().unwrap_or(0)))
                    .collect(),
            }
        })
        .collect();
    let chrome = Chrome::new(&state, &admin, "Integrations", "integrations", "").await?;
    render(&IntegrationsPage { chrome, rows })
}

/// An overview in an integration's recent list.
pub struct OverviewRow {
    pub id: i64,
    pub created_at: String,
    pub shown: Shown,
    pub valid: bool,
}

/// A run in an integration's recent list.
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub shown: Shown,
    pub from_overview: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/integration.html")]
struct IntegrationPage {
    chrome: Chrome,
    view: IntegrationView,
    conditions: Vec<String>,
    counts: Vec<(Shown, i64)>,
    overviews: Vec<OverviewRow>,
    runs: Vec<RunRow>,
}

/// `GET /console/integrations/{id}`.
pub async fn show(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let store = state.engine.store();
    let stored = store
        .get_integration(admin.tenant_id, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no integration {id}.")))?;
    let view = IntegrationView::from_stored(stored)?;
    let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
    for (integration_id, status, count) in store.integration_status_counts(admin.tenant_id).await? {
        if integration_id == id {
            counts.insert(status.as_str(), count);
        }
    }
    let counts =
        STATUS_ORDER.iter().map(|s| (words::sync_status(*s), counts.get(s.as_str()).copied().unwrap_or(0))).collect();
    let now = state.engine.clock().now();
    let settings = state.engine.settings(admin.tenant_id).await?;
    let validity = chrono::Duration::seconds(i64::from(settings.overview_validity_seconds));
    let overviews = store
        .list_overviews(admin.tenant_id, id, None, RECENT)
        .await?
        .into_iter()
        .map(|o| {
            let valid = crate::domain::validity::overview_invalid_reason(&o, validity, now).is_none();
            OverviewRow { id: o.id, created_at: rfc3339(o.created_at), shown: words::overview_status(o.status), valid }
        })
        .collect();
    let runs = store
        .list_sync_runs(admin.tenant_id, id, None, RECENT)
        .await?
        .into_iter()
        .map(|r| RunRow {
            id: r.id,
            started_at: rfc3339(r.started_at),
            shown: words::run_status(r.status),
            from_overview: r.overview_id,
        })
        .collect();
    let conditions = view.eligibility.iter().map(describe_condition).collect();
    let chrome = Chrome::new(&state, &admin, view.name.clone(), "integrations", "").await?;
    render(&IntegrationPage { chrome, view, conditions, counts, overviews, runs })
}

/// An eligibility condition in words: "`status` is one of [\"active\"]".
fn describe_condition(condition: &crate::domain::eligibility::Condition) -> String {
    use crate::domain::eligibility::ConditionOp;
    let value = condition.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let field = &condition.field;
    match condition.op {
        ConditionOp::Eq => format!("{field} is {value}"),
        ConditionOp::Ne => format!("{field} is not {value}"),
        ConditionOp::In => format!("{field} is one of {value}"),
        ConditionOp::NotIn => format!("{field} is none of {value}"),
        ConditionOp::Exists => format!("{field} is set"),
        ConditionOp::NotExists => format!("{field} is not set"),
    }
}

/// `POST /console/integrations/{id}/overviews`: runs a Sync Overview.
pub async fn run_overview(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let waited =
        state.engine.start_overview(admin.tenant_id, id, admin.admin_id).await.map_err(|e| start_error(e, id))?;
    let location = match waited {
        Waited::Done(view) => format!("/console/overviews/{}", view.overview.id),
        Waited::Background(view) => format!("/console/overviews/{}?background=1", view.overview.id),
    };
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response())
}

/// The form of *Sync Now* (and of *Apply* on an overview).
#[derive(Deserialize)]
pub struct SyncNowForm {
    overview_id: Option<String>,
}

/// `POST /console/integrations/{id}/sync-runs`: Sync Now, of the whole
/// integration or of exactly one overview.
pub async fn sync_now(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
    Form(form): Form<SyncNowForm>,
) -> Result<Response, PageError> {
    let overview_id = match form.overview_id.as_deref().filter(|v| !v.is_empty()) {
        Some(raw) => {
            Some(raw.parse::<i64>().map_err(|_| PageError::bad_request("overview_id must be a whole number"))?)
        }
        None => None,
    };
    let waited = state
        .engine
        .start_sync_run(admin.tenant_id, id, overview_id, admin.admin_id)
        .await
        .map_err(|e| start_error(e, id))?;
    let location = match waited {
        Waited::Done(run) => format!("/console/sync-runs/{}", run.id),
        Waited::Background(run) => format!("/console/sync-runs/{}?background=1", run.id),
    };
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response())
}
