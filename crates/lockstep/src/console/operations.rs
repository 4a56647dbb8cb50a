//! The pages of background operations: a Sync Overview (its summary and
//! changes, filterable by action, and *Apply*) and a Sync Now run (its
//! counts and its Sync Log, filterable by outcome).
//!
//! An overview is shown under the same validity rules as everywhere
//! ([`crate::domain::validity`]): once superseded or past the tenant's
//! validity period, its page says "Sync Overview data no longer valid",
//! why, and offers a new overview, and shows none of its changes. A run's
//! log never expires.
//!
//! While an operation runs, the page's live connection sends an event each
//! time it moves (see [`super::live`]) and htmx fetches the page's body
//! again. `?background=1` (where the buttons send the admin when the
//! operation outlasts the tenant's threshold) opens the modal saying it
//! goes on in the background and a notification will follow.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use lockstep_store::{ChangeAction, LogOutcome, OverviewStatus, SyncRunStatus};
use serde_json::Value;

use super::page::{number_param, render, Chrome, PageError};
use super::records::{encode, rfc3339};
use super::session::ConsoleAdmin;
use super::words::{self, Shown};
use crate::http::links::NO_LONGER_VALID;
use crate::http::AppState;

/// Changes or log entries per page.
const PAGE_SIZE: u32 = 50;

/// A page's query: a filter, a position, and whether to open the modal.
struct Query {
    filter: Option<String>,
    after: Option<i64>,
    background: bool,
}

fn query(raw: Option<&str>, filter_key: &str) -> Result<Query, PageError> {
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let after = number_param(&params, "after")?;
    Ok(Query {
        filter: params.get(filter_key).filter(|f| !f.is_empty()).cloned(),
        after,
        background: params.get("background").is_some_and(|b| b == "1"),
    })
}

/// A filter link above a list.
struct FilterLink {
    label: String,
    href: String,
    current: bool,
}

/// One attribute a change writes: target, from, to.
struct AttributeRow {
    target: String,
    from: String,
    to: String,
}

struct ChangeRow {
    record_id: String,
    record_href: String,
    action: &'static str,
    attributes: Vec<AttributeRow>,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    id: i64,
    integration_id: i64,
    integration_name: String,
    created_at: String,
    shown: Shown,
    running: bool,
    failed_reason: Option<String>,
    /// Set when the overview may no longer be shown: why.
    invalid: Option<&'static str>,
    no_longer_valid: &'static str,
    summary: Vec<(&'static str, i64)>,
    filters: Vec<FilterLink>,
    changes: Vec<ChangeRow>,
    next_href: Option<String>,
    self_href: String,
    background: bool,
}

/// A JSON value as a cell shows it: text as is, nothing as an empty mark.
fn shown_value(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// `GET /console/overviews/{id}?action=&after=&background=1`.
pub async fn overview(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = query(raw.as_deref(), "action")?;
    let action = q
        .filter
        .as_deref()
        .map(|a| {
            ChangeAction::parse(a)
                .ok_or_else(|| PageError::bad_request("action must be create, update, deactivate or error"))
        })
        .transpose()?;
    let view = state
        .engine
        .overview(admin.tenant_id, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no Sync Overview {id}.")))?;
    let o = &view.overview;
    let store = state.engine.store();
    let integration_name =
        store.get_integration(admin.tenant_id, o.integration_id).await?.map(|i| i.name).unwrap_or_default();
    let invalid = view.invalid_reason.map(|r| r.explanation());
    let showable = invalid.is_none() && o.status == OverviewStatus::Ready;
    let base = format!("/console/overviews/{id}");
    let (changes, next_href) = if showable {
        let mut changes = store.list_overview_changes(admin.tenant_id, id, action, q.after, PAGE_SIZE + 1).await?;
        let more = changes.len() > PAGE_SIZE as usize;
        changes.truncate(PAGE_SIZE as usize);
        let next =
            more.then(|| changes.last().map(|c| with_query(&base, q.filter.as_deref(), "action", c.seq))).flatten();
        let record_type = store.get_integration(admin.tenant_id, o.integration_id).await?.map(|i| i.record_type);
        let rows = changes
            .into_iter()
            .map(|c| ChangeRow {
                record_href: record_type
                    .as_deref()
                    .map(|t| format!("/console/records/{}/{}", encode(t), encode(&c.external_id)))
                    .unwrap_or_default(),
                action: words::action(c.action),
                attributes: c
                    .detail
                    .get("attributes")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|a| AttributeRow {
                                target: a.get("target").and_then(Value::as_str).unwrap_or_default().to_owned(),
                                from: shown_value(a.get("from")),
                                to: shown_value(a.get("to")),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                reason: c.detail.get("reason").and_then(Value::as_str).map(str::to_owned),
                record_id: c.external_id,
            })
            .collect();
        (rows, next)
    } else {
        (Vec::new(), None)
    };
    let s = &o.summary;
    let summary = if showable {
        vec![
            ("Create", s.create),
            ("Update", s.update),
            ("Deactivate", s.deactivate),
            ("Error", s.error),
            ("Unchanged", s.unchanged),
            ("Not managed by Lockstep", s.unmanaged),
        ]
    } else {
        Vec::new()
    };
    let filters = std::iter::once((None, "All"))
        .chain(
            [ChangeAction::Create, ChangeAction::Update, ChangeAction::Deactivate, ChangeAction::Error]
                .map(|a| (Some(a), words::action(a))),
        )
        .map(|(a, label)| FilterLink {
            label: label.to_owned(),
            href: match a {
                Some(a) => format!("{base}?action={}", a.as_str()),
                None => base.clone(),
            },
            current: a == action,
        })
        .collect();
    let running = o.status == OverviewStatus::Running;
    let title = if invalid.is_some() { NO_LONGER_VALID.to_owned() } else { format!("Sync Overview {id}") };
    let live = if running { format!("overview={id}") } else { String::new() };
    let chrome = Chrome::new(&state, &admin, title, "integrations", &live).await?;
    let page = OverviewPage {
        chrome,
        id,
        integration_id: o.integration_id,
        integration_name,
        created_at: rfc3339(o.created_at),
        shown: words::overview_status(o.status),
        running,
        failed_reason: (o.status == OverviewStatus::Failed).then(|| o.error.clone().unwrap_or_default()),
        invalid,
        no_longer_valid: NO_LONGER_VALID,
        summary,
        filters,
        changes,
        next_href,
        self_href: with_filter(&base, q.filter.as_deref(), "action"),
        background: q.background,
    };
    render(&page)
}

/// `base` with a filter and a position.
fn with_query(base: &str, filter: Option<&str>, key: &str, after: i64) -> String {
    match filter {
        Some(f) => format!("{base}?{key}={}&after={after}", encode(f)),
        None => format!("{base}?after={after}"),
    }
}

/// `base` with a filter only.
fn with_filter(base: &str, filter: Option<&str>, key: &str) -> String {
    match filter {
        Some(f) => format!("{base}?{key}={}", encode(f)),
        None => base.to_owned(),
    }
}

struct LogRow {
    record_id: String,
    record_href: String,
    action: &'static str,
    shown: Shown,
    attributes: String,
    errors: Vec<String>,
    at: String,
}

#[derive(Template)]
#[template(path = "console/sync_run.html")]
struct RunPage {
    chrome: Chrome,
    id: i64,
    integration_id: i64,
    integration_name: String,
    overview_id: Option<i64>,
    started_at: String,
    finished_at: Option<String>,
    shown: Shown,
    running: bool,
    error: Option<String>,
    counts: Vec<(&'static str, i64)>,
    filters: Vec<FilterLink>,
    entries: Vec<LogRow>,
    next_href: Option<String>,
    self_href: String,
    background: bool,
}

/// `GET /console/sync-runs/{id}?outcome=&after=&background=1`.
pub async fn sync_run(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = query(raw.as_deref(), "outcome")?;
    let outcome = q
        .filter
        .as_deref()
        .map(|o| LogOutcome::parse(o).ok_or_else(|| PageError::bad_request("outcome must be succeeded or failed")))
        .transpose()?;
    let store = state.engine.store();
    let run = store
        .get_sync_run(admin.tenant_id, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no Sync Now run {id}.")))?;
    let integration = store.get_integration(admin.tenant_id, run.integration_id).await?;
    let record_type = integration.as_ref().map(|i| i.record_type.clone());
    let base = format!("/console/sync-runs/{id}");
    let mut entries = store.list_sync_run_log(admin.tenant_id, id, outcome, q.after, PAGE_SIZE + 1).await?;
    let more = entries.len() > PAGE_SIZE as usize;
    entries.truncate(PAGE_SIZE as usize);
    let next_href =
        more.then(|| entries.last().map(|e| with_query(&base, q.filter.as_deref(), "outcome", e.seq))).flatten();
    let entries = entries
        .into_iter()
        .map(|e| LogRow {
            record_href: record_type
                .as_deref()
                .map(|t| format!("/console/records/{}/{}", encode(t), encode(&e.external_id)))
                .unwrap_or_default(),
            action: words::action(e.action),
            shown: words::outcome(e.outcome),
            attributes: match &e.attributes {
                Value::Object(map) => {
                    map.iter().map(|(k, v)| format!("{k} = {}", shown_value(Some(v)))).collect::<Vec<_>>().join(", ")
                }
                _ => String::new(),
            },
            errors: e
                .errors
                .iter()
                .map(|err| match &err.field {
                    Some(field) => format!("{field}: {}", err.message),
                    None => err.message.clone(),
                })
                .collect(),
            at: rfc3339(e.at),
            record_id: e.external_id,
        })
        .collect();
    let c = &run.counts;
    let counts = vec![
        ("Created", c.created),
        ("Updated", c.updated),
        ("Deactivated", c.deactivated),
        ("Unchanged", c.unchanged),
        ("Failed", c.failed),
    ];
    let filters = [(None, "All"), (Some(LogOutcome::Succeeded), "Succeeded"), (Some(LogOutcome::Failed), "Failed")]
        .into_iter()
        .map(|(o, label)| FilterLink {
            label: label.to_owned(),
            href: match o {
                Some(o) => format!("{base}?outcome={}", o.as_str()),
                None => base.clone(),
            },
            current: o == outcome,
        })
        .collect();
    let running = run.status == SyncRunStatus::Running;
    let live = if running { format!("run={id}") } else { String::new() };
    let chrome = Chrome::new(&state, &admin, format!("Sync Log of run {id}"), "integrations", &live).await?;
    let page = RunPage {
        chrome,
        id,
        integration_id: run.integration_id,
        integration_name: integration.map(|i| i.name).unwrap_or_default(),
        overview_id: run.overview_id,
        started_at: rfc3339(run.started_at),
        finished_at: run.finished_at.map(rfc3339),
        shown: words::run_status(run.status),
        running,
        error: run.error.clone(),
        counts,
        filters,
        entries,
        next_href,
        self_href: with_filter(&base, q.filter.as_deref(), "outcome"),
        background: q.background,
    };
    render(&page)
}
