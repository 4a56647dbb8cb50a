//! The records pages: a type's records, searchable and paged, each with its
//! status badge; one record's page with the badge at the top, a panel per
//! integration, and its fields with the integrations that sync each; and
//! Retry of a failed sync.
//!
//! The badge, the panels and the fields are one fragment ([`status_fragment`]), which
//! the page's live connection sends again whenever it changes (see
//! [`super::live`]), so an open page follows a write through the API from
//! *Sync pending* to *Syncing* to *Synced* without reloading.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use lockstep_store::{Record, StoreError, SyncStatus};
use serde::Deserialize;
use serde_json::Value;

use super::page::{number_param, render, Chrome, PageError};
use super::session::ConsoleAdmin;
use super::words::{self, Shown};
use crate::engine::records::{load_sync_views, IntegrationSync, SyncView};
use crate::http::records::{check_record_id, check_record_type};
use crate::http::AppState;

/// Records per page of the list.
const PAGE_SIZE: u32 = 50;
/// The longest search text taken.
const MAX_SEARCH_CHARS: usize = 200;

/// The record type the console opens first: the first integration's, or
/// `employee` when there is none.
pub async fn default_record_type(state: &AppState, tenant_id: i64) -> Result<String, StoreError> {
    let integrations = state.engine.store().list_integrations(tenant_id).await?;
    Ok(integrations.first().map_or_else(|| "employee".to_owned(), |i| i.record_type.clone()))
}

/// The record types a tenant's integrations sync, and `current`.
async fn record_types(state: &AppState, tenant_id: i64, current: &str) -> Result<Vec<String>, StoreError> {
    let mut types: Vec<String> =
        state.engine.store().list_integrations(tenant_id).await?.into_iter().map(|i| i.record_type).collect();
    types.push(current.to_owned());
    types.sort();
    types.dedup();
    Ok(types)
}

/// A status as a badge entry: its words and the integrations in it.
pub struct BadgeItem {
    pub shown: Shown,
    pub integrations: String,
}

/// The badge of a sync view, most important first.
fn badge_items(sync: &SyncView) -> Vec<BadgeItem> {
    sync.badge
        .iter()
        .map(|entry| BadgeItem {
            shown: words::sync_status(entry.status),
            integrations: entry
                .integration_ids
                .iter()
                .filter_map(|id| sync.integrations.iter().find(|i| i.integration_id == *id))
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect()
}

/// One row of the records list.
struct ListRow {
    id: String,
    href: String,
    name: String,
    badge: Vec<BadgeItem>,
}

#[derive(Template)]
#[template(path = "console/records.html")]
struct RecordsPage {
    chrome: Chrome,
    record_type: String,
    types: Vec<String>,
    heading: String,
    search: String,
    rows: Vec<ListRow>,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// `GET /console/records/{type}?q=&after=`.
pub async fn list(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path(record_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    check_record_type(&record_type)?;
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect();
    let search: String = params.get("q").map(|q| q.trim().chars().take(MAX_SEARCH_CHARS).collect()).unwrap_or_default();
    let after = number_param(&params, "after")?;
    let store = state.engine.store();
    let mut records = if search.is_empty() {
        store.list_records(admin.tenant_id, &record_type, after, PAGE_SIZE + 1).await?
    } else {
        store.search_records(admin.tenant_id, &record_type, &search, after, PAGE_SIZE + 1).await?
    };
    let more = records.len() > PAGE_SIZE as usize;
    records.truncate(PAGE_SIZE as usize);
    let base = format!("/console/records/{}", encode(&record_type));
    let query_of = |after: Option<i64>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !search.is_empty() {
            q.append_pair("q", &search);
        }
        if let Some(after) = after {
            q.append_pair("after", &after.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            base.clone()
        } else {
            format!("{base}?{q}")
        }
    };
    let next_href = more.then(|| records.last().map(|r| query_of(Some(r.id)))).flatten();
    let first_href = after.is_some().then(|| query_of(None));
    let syncs = load_sync_views(&state.engine, admin.tenant_id, &record_type, &records).await?;
    let rows = records
        .into_iter()
        .zip(syncs)
        .map(|(record, sync)| ListRow {
            href: format!("{base}/{}", encode(&record.external_id)),
            name: display_name(&record.fields),
            badge: badge_items(&sync),
            id: record.external_id,
        })
        .collect();
    let heading = words::records_label(&record_type);
    let mut chrome = Chrome::new(&state, &admin, heading.clone(), "records", "").await?;
    chrome.records_type = record_type.clone();
    let page = RecordsPage {
        chrome,
        types: record_types(&state, admin.tenant_id, &record_type).await?,
        record_type,
        heading,
        search,
        rows,
        next_href,
        first_href,
    };
    render(&page)
}

/// One field of a record, as its page lists it.
struct FieldRow {
    path: String,
    value: String,
    /// The integrations that sync it: (name, initials).
    synced_by: Vec<(String, String)>,
    /// The third parties' errors about it: (integration, message).
    errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/record.html")]
struct RecordPage {
    chrome: Chrome,
    id: String,
    name: String,
    status_html: String,
    list_href: String,
}

/// A panel of one integration on a record's page.
struct Panel {
    integration_id: i64,
    name: String,
    shown: Shown,
    description: &'static str,
    starts_at: Option<String>,
    last_synced_at: Option<String>,
    attempts: i32,
    errors: Vec<(String, String)>,
    can_retry: bool,
}

#[derive(Template)]
#[template(path = "console/_record_status.html")]
struct StatusFragment {
    badge: Vec<BadgeItem>,
    panels: Vec<Panel>,
    retry_action: String,
    csrf: String,
    fields: Vec<FieldRow>,
}

/// What a status means, in the seed's words.
fn description(status: SyncStatus) -> &'static str {
    match status {
        SyncStatus::Synced => "All changes have been applied to the third party.",
        SyncStatus::Failed => "The third party returned errors during the sync.",
        SyncStatus::Syncing => "The sync is in progress.",
        SyncStatus::Pending => "Changes were made recently; the sync starts when the grace period ends.",
    }
}

fn panel(sync: &IntegrationSync) -> Panel {
    Panel {
        integration_id: sync.integration_id,
        name: sync.name.clone(),
        shown: words::sync_status(sync.status),
        description: description(sync.status),
        starts_at: sync.sync_starts_at.map(rfc3339),
        last_synced_at: sync.last_synced_at.map(rfc3339),
        attempts: sync.attempts,
        errors: sync
            .errors
            .iter()
            .map(|e| (e.field.clone().unwrap_or_else(|| "(record)".into()), e.message.clone()))
            .collect(),
        can_retry: sync.status == SyncStatus::Failed,
    }
}

/// A time as `<time datetime>` and scripts read it.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A record's badge, panels and fields, rendered: the part of its page
/// that is live. `names` are the names of the integrations of its type.
pub fn status_fragment(
    record: &Record,
    sync: &SyncView,
    names: &BTreeMap<i64, String>,
    csrf: &str,
) -> Result<String, PageError> {
    let fragment = StatusFragment {
        badge: badge_items(sync),
        panels: sync.integrations.iter().map(panel).collect(),
        retry_action: format!("/console/records/{}/{}/retry", encode(&record.record_type), encode(&record.external_id)),
        csrf: csrf.to_owned(),
        fields: field_rows(record, sync, names),
    };
    fragment.render().map_err(|e| PageError::internal(format!("the record status fragment failed: {e}")))
}

/// The names of the integrations of a record type, by id.
pub async fn integration_names(
    state: &AppState,
    tenant_id: i64,
    record_type: &str,
) -> Result<BTreeMap<i64, String>, StoreError> {
    Ok(crate::engine::records::integrations_for(&state.engine, tenant_id, record_type)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}

/// A record's fields, each with the integrations that sync it and their
/// errors about it.
fn field_rows(record: &Record, sync: &SyncView, names: &BTreeMap<i64, String>) -> Vec<FieldRow> {
    let mut fields = Vec::new();
    flatten("", &record.fields, &mut fields);
    fields
        .into_iter()
        .map(|(path, value)| {
            let synced_by = sync
                .fields
                .get(&path)
                .map(|ids| {
                    ids.iter().filter_map(|id| names.get(id)).map(|name| (name.clone(), initials(name))).collect()
                })
                .unwrap_or_default();
            let errors = sync
                .integrations
                .iter()
                .flat_map(|i| {
                    i.errors
                        .iter()
                        .filter(|e| e.field.as_deref() == Some(path.as_str()))
                        .map(|e| (i.name.clone(), e.message.clone()))
                })
                .collect();
            FieldRow { path, value, synced_by, errors }
        })
        .collect()
}

/// A record of the tenant with its sync view, or a 404.
pub async fn load(
    state: &AppState,
    tenant_id: i64,
    record_type: &str,
    id: &str,
) -> Result<(Record, SyncView), PageError> {
    check_record_type(record_type)?;
    check_record_id(id).map_err(|m| PageError::bad_request(format!("record id {m}")))?;
    let record = state
        .engine
        .store()
        .get_record(tenant_id, record_type, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no {record_type} `{id}`.")))?;
    let sync = load_sync_views(&state.engine, tenant_id, record_type, std::slice::from_ref(&record))
        .await?
        .pop()
        .ok_or_else(|| PageError::internal("a record's sync view went missing"))?;
    Ok((record, sync))
}

/// `GET /console/records/{type}/{id}`.
pub async fn show(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((record_type, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (record, sync) = load(&state, admin.tenant_id, &record_type, &id).await?;
    let names = integration_names(&state, admin.tenant_id, &record_type).await?;
    let status_html = status_fragment(&record, &sync, &names, &admin.csrf)?;
    let name = display_name(&record.fields);
    let title = if name.is_empty() { id.clone() } else { format!("{name} ({id})") };
    let live = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("record_type", &record_type)
        .append_pair("record_id", &id)
        .finish();
    let mut chrome = Chrome::new(&state, &admin, title, "records", &live).await?;
    chrome.records_type = record_type.clone();
    let page =
        RecordPage { chrome, list_href: format!("/console/records/{}", encode(&record_type)), id, name, status_html };
    render(&page)
}

/// The form of a Retry button.
#[derive(Deserialize)]
pub struct RetryForm {
    integration_id: Option<i64>,
}

/// `POST /console/records/{type}/{id}/retry`: retries the record's failed
/// sync in one integration (or all), then shows the record again.
pub async fn retry(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((record_type, id)): Path<(String, String)>,
    Form(form): Form<RetryForm>,
) -> Result<Response, PageError> {
    let (record, _) = load(&state, admin.tenant_id, &record_type, &id).await?;
    if let Some(integration_id) = form.integration_id {
        if state.engine.store().get_integration(admin.tenant_id, integration_id).await?.is_none() {
            return Err(PageError::not_found(format!("There is no integration {integration_id}.")));
        }
    }
    let now = state.engine.clock().now();
    let moved = state.engine.store().retry_failed(admin.tenant_id, record.id, form.integration_id, now).await?;
    if moved == 0 {
        return Err(PageError::conflict(format!("`{id}` has no failed sync to retry.")));
    }
    let location = format!("/console/records/{}/{}", encode(&record_type), encode(&id));
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response())
}

/// Percent-encodes one path segment.
pub fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A person-like name from a record's fields, when it has one.
pub fn display_name(fields: &Value) -> String {
    for key in ["display_name", "displayName", "full_name", "fullName", "name"] {
        if let Some(name) = fields.get(key).and_then(Value::as_str) {
            return name.to_owned();
        }
    }
    let part = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k).and_then(Value::as_str)).unwrap_or_default();
    let given = part(&["first_name", "firstName", "given_name", "givenName"]);
    let family = part(&["last_name", "lastName", "family_name", "familyName"]);
    format!("{given} {family}").trim().to_owned()
}

/// The leaves of a record's fields as (dotted path, text), in key order.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, value, out);
            }
        }
        Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Up to two letters naming an integration on a field's icon.
fn initials(name: &str) -> String {
    let letters: String = name.split_whitespace().filter_map(|w| w.chars().next()).take(2).collect();
    if letters.is_empty() {
        "?".into()
    } else {
        letters.to_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_fields_are_listed_by_dotted_path() {
        let mut out = Vec::new();
        flatten("", &json!({"name": {"given": "Ada"}, "age": 36, "email": null}), &mut out);
        assert_eq!(
            out,
            [("age".into(), "36".into()), ("email".into(), String::new()), ("name.given".into(), "Ada".into())]
        );
    }

    #[test]
    fn a_name_is_found_or_composed() {
        assert_eq!(display_name(&json!({"first_name": "Ada", "last_name": "Lovelace"})), "Ada Lovelace");
        assert_eq!(display_name(&json!({"displayName": "Grace"})), "Grace");
        assert_eq!(display_name(&json!({"department": "R&D"})), "");
    }

    #[test]
    fn initials_take_two_words() {
        assert_eq!(initials("Directory"), "D");
        assert_eq!(initials("okta prod"), "OP");
    }
}
