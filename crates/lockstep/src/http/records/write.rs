//! Writing one record: `PUT` (replace), `PATCH` (JSON Merge Patch),
//! `DELETE`, and `retry` of failed syncs.
//!
//! Every write goes through [`engine::records::write_records`], so the record
//! and the sync states it implies are stored in one transaction. `PATCH` is a
//! read-merge-write; it writes with the version it read as the expected one,
//! so a concurrent writer is never overwritten: on a version conflict it
//! reads again and re-applies the patch, a few times, before answering 409.
//! A client that sends `If-Match` asked for exactly that version, so there it
//! gets 412 at once instead of a silent re-merge.
//!
//! [`engine::records::write_records`]: crate::engine::records::write_records

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use lockstep_store::{RecordWrite, RecordWritten, StoreError};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{if_match, view, RecordFields, RecordKey, RecordView};
use crate::engine::records::{write_records, SyncView};
use crate::http::extract::{AuthAdmin, Json, OptionalJson};
use crate::http::input::check_fields;
use crate::http::merge_patch;
use crate::http::problem::{ApiError, Problem};
use crate::http::AppState;

/// How often `PATCH` reads, merges and writes before giving up on a record
/// that keeps changing under it: the first try and three retries.
const PATCH_ATTEMPTS: usize = 4;

/// The 404 of a record route.
pub fn not_found(key: &RecordKey) -> ApiError {
    ApiError::NotFound(format!("no {} record `{}`", key.record_type, key.id))
}

fn version_mismatch(error: StoreError) -> ApiError {
    match error {
        StoreError::VersionConflict { expected, found, .. } => ApiError::PreconditionFailed(format!(
            "If-Match named version {expected}, but the record is at version {found}"
        )),
        other => other.into(),
    }
}

/// Writes one record; returns what the write did and its sync view.
async fn write_one(
    state: &AppState,
    tenant_id: i64,
    key: &RecordKey,
    fields: Option<Value>,
    expected_version: Option<i64>,
) -> Result<(RecordWritten, SyncView), StoreError> {
    let write = RecordWrite { external_id: key.id.clone(), fields, expected_version };
    let mut committed = write_records(&state.engine, tenant_id, &key.record_type, vec![write]).await?;
    let written = committed
        .written
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a write of one record returned no result".into()))?;
    let sync = committed.view_of(&written);
    Ok((written, sync))
}

/// Answers a write from what it stored: no second read, so the answer shows
/// exactly the version and sync states this write committed.
fn answer((written, sync): (RecordWritten, SyncView)) -> impl IntoResponse {
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut view = RecordView::new(written.record, sync);
    view.changed_fields = Some(written.changed_fields);
    (status, view.etag(), axum::Json(view))
}

/// Creates or replaces a record.
#[utoipa::path(put, path = "/v1/records/{type}/{id}", tag = "records", security(("bearer" = [])),
    params(
        RecordKey,
        ("If-Match" = Option<String>, Header, pattern = r#"^(?:W/)?(?:"[0-9]{1,18}"|[0-9]{1,18})$"#,
            description = "Write only if the record is at this version (`\"0\"`: only if it does not exist)"),
    ),
    request_body(content = RecordFields, description = "The record's fields: a JSON object"),
    responses(
        (status = 200, description = "Replaced", body = RecordView),
        (status = 201, description = "Created", body = RecordView),
        (status = 409, description = "The record or the tenant's integrations changed meanwhile; nothing was stored", body = Problem),
        (status = 412, description = "If-Match named another version", body = Problem),
    ))]
pub async fn put_record(
    State(state): State<AppState>,
    caller: AuthAdmin,
    key: RecordKey,
    headers: HeaderMap,
    Json(fields): Json<Map<String, Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let errors = check_fields(&fields, "");
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let expected = if_match(&headers)?;
    let fields = Value::Object(fields);
    let written = write_one(&state, caller.tenant_id, &key, Some(fields), expected).await.map_err(version_mismatch)?;
    Ok(answer(written))
}

/// Changes a record with a JSON Merge Patch (RFC 7396).
#[utoipa::path(patch, path = "/v1/records/{type}/{id}", tag = "records", security(("bearer" = [])),
    params(
        RecordKey,
        ("If-Match" = Option<String>, Header, pattern = r#"^(?:W/)?(?:"[0-9]{1,18}"|[0-9]{1,18})$"#,
            description = "Patch only if the record is at this version"),
    ),
    request_body(content = RecordFields, content_type = "application/merge-patch+json",
        description = "Fields to set; `null` removes one; nested objects merge"),
    responses(
        (status = 200, description = "Patched", body = RecordView),
        (status = 404, description = "No such record", body = Problem),
        (status = 409, description = "The record kept changing; try again", body = Problem),
        (status = 412, description = "If-Match named another version", body = Problem),
    ))]
pub async fn patch_record(
    State(state): State<AppState>,
    caller: AuthAdmin,
    key: RecordKey,
    headers: HeaderMap,
    Json(patch): Json<Map<String, Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let errors = check_fields(&patch, "");
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let patch = Value::Object(patch);
    let demanded = if_match(&headers)?;
    for _ in 0..PATCH_ATTEMPTS {
        let record = state
            .engine
            .store()
            .get_record(caller.tenant_id, &key.record_type, &key.id)
            .await?
            .ok_or_else(|| not_found(&key))?;
        if let Some(demanded) = demanded.filter(|&v| v != record.version) {
            return Err(ApiError::PreconditionFailed(format!(
                "If-Match named version {demanded}, but the record is at version {}",
                record.version
            )));
        }
        let mut fields = record.fields;
        merge_patch::apply(&mut fields, patch.clone());
        match write_one(&state, caller.tenant_id, &key, Some(fields), Some(record.version)).await {
            Ok(written) => return Ok(answer(written)),
            Err(conflict @ StoreError::VersionConflict { .. }) if demanded.is_some() => {
                return Err(version_mismatch(conflict))
            }
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(format!(
        "record `{}` kept changing while it was being patched; send the patch again",
        key.id
    )))
}

/// Deletes a record; its integrations deactivate it in their third parties.
#[utoipa::path(delete, path = "/v1/records/{type}/{id}", tag = "records", security(("bearer" = [])),
    params(
        RecordKey,
        ("If-Match" = Option<String>, Header, pattern = r#"^(?:W/)?(?:"[0-9]{1,18}"|[0-9]{1,18})$"#,
            description = "Delete only if the record is at this version"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such record", body = Problem),
        (status = 409, description = "The tenant's integrations kept changing; nothing was stored, try again", body = Problem),
        (status = 412, description = "If-Match named another version", body = Problem),
    ))]
pub async fn delete_record(
    State(state): State<AppState>,
    caller: AuthAdmin,
    key: RecordKey,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match(&headers)?;
    // The store would record a delete of an unknown id as a tombstone; the
    // API answers 404 instead, as for every other method on an absent record.
    if state.engine.store().get_record(caller.tenant_id, &key.record_type, &key.id).await?.is_none() {
        return Err(not_found(&key));
    }
    write_one(&state, caller.tenant_id, &key, None, expected).await.map_err(version_mismatch)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which failed syncs to retry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySyncs {
    /// Retry this integration's sync only; absent: every failed sync of the record.
    #[serde(default, deserialize_with = "crate::domain::numbers::optional_whole")]
    pub integration_id: Option<i64>,
}

/// Moves a record's failed syncs back to pending, due now.
#[utoipa::path(post, path = "/v1/records/{type}/{id}/retry", tag = "records", security(("bearer" = [])),
    params(RecordKey),
    request_body(content = Option<RetrySyncs>, description = "Optional; empty retries every failed sync"),
    responses(
        (status = 200, description = "The record, its syncs pending again", body = RecordView),
        (status = 404, description = "No such record or integration", body = Problem),
        (status = 409, description = "No sync of the record had failed", body = Problem),
    ))]
pub async fn retry_record(
    State(state): State<AppState>,
    caller: AuthAdmin,
    key: RecordKey,
    OptionalJson(body): OptionalJson<RetrySyncs>,
) -> Result<axum::Json<RecordView>, ApiError> {
    let integration_id = body.and_then(|b| b.integration_id);
    let record = state
        .engine
        .store()
        .get_record(caller.tenant_id, &key.record_type, &key.id)
        .await?
        .ok_or_else(|| not_found(&key))?;
    if let Some(id) = integration_id {
        if state.engine.store().get_integration(caller.tenant_id, id).await?.is_none() {
            return Err(ApiError::NotFound(format!("no integration {id}")));
        }
    }
    let moved = state
        .engine
        .store()
        .retry_failed(caller.tenant_id, record.id, integration_id, state.engine.clock().now())
        .await?;
    if moved == 0 {
        return Err(ApiError::Conflict(match integration_id {
            Some(id) => format!("record `{}` has no failed sync in integration {id}", key.id),
            None => format!("record `{}` has no failed sync to retry", key.id),
        }));
    }
    Ok(axum::Json(view(&state, caller.tenant_id, record).await?))
}
