//! `POST /v1/records/{type}/batch`: many record writes in one transaction.
//!
//! This is the fast path, so it does the least per record: the body is read
//! once into JSON values whose `fields` move (not copy) into the writes, the
//! store is called once, and the answer holds versions and changed fields
//! but no sync views (a client that wants those reads the records).
//!
//! It is all-or-nothing, and so is validation: every element is checked
//! before anything is written, and every bad one is reported in the same
//! 422, so a client fixing a large import sees all of its mistakes at once.

use axum::extract::State;
use lockstep_store::RecordWrite;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{check_record_id, check_record_type};
use crate::engine::records::write_records;
use crate::http::extract::{AuthAdmin, Json, Path};
use crate::http::problem::{ApiError, FieldError, Problem};
use crate::http::AppState;

/// The most records one batch may hold.
pub const MAX_BATCH: usize = 5_000;

/// A batch of record writes (for the OpenAPI document; read by hand).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchRequest {
    /// 1–5,000 writes, applied in order: `{"id", "fields"}` writes a
    /// record, `{"id", "deleted": true}` deletes one.
    pub records: Vec<BatchItem>,
}

/// One write of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchItem {
    pub id: String,
    /// The record's complete fields: a JSON object.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Value>,
    /// `true` to delete the record.
    pub deleted: Option<bool>,
}

/// What one write of a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub id: String,
    pub version: i64,
    /// The record did not exist (or was deleted) before.
    pub created: bool,
    /// The field paths the write changed; empty for a write that changed nothing.
    pub changed_fields: Vec<String>,
}

/// The results, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// Writes up to 5,000 records of one type, all or nothing.
#[utoipa::path(post, path = "/v1/records/{type}/batch", tag = "records", security(("bearer" = [])),
    params(("type" = String, Path, description = "The record type")),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Every write was stored", body = BatchResponse),
        (status = 413, description = "More than 5,000 records", body = Problem),
        (status = 422, description = "Invalid elements, each named in `errors`; nothing was stored", body = Problem),
    ))]
pub async fn write_batch(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(record_type): Path<String>,
    Json(body): Json<Value>,
) -> Result<axum::Json<BatchResponse>, ApiError> {
    check_record_type(&record_type)?;
    let writes = parse_batch(body)?;
    if writes.is_empty() {
        return Ok(axum::Json(BatchResponse { results: Vec::new() }));
    }
    let written = write_records(&state.engine, caller.tenant_id, &record_type, writes).await?;
    let results = written
        .written
        .into_iter()
        .map(|w| BatchResult {
            id: w.record.external_id,
            version: w.record.version,
            created: w.created,
            changed_fields: w.changed_fields,
        })
        .collect();
    Ok(axum::Json(BatchResponse { results }))
}

/// Turns the body into writes, or reports every bad element.
fn parse_batch(body: Value) -> Result<Vec<RecordWrite>, ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::invalid_field("body", "must be a JSON object `{\"records\": [...]}`"));
    };
    let records = match body.remove("records") {
        Some(Value::Array(records)) => records,
        Some(_) => return Err(ApiError::invalid_field("records", "must be an array")),
        None => return Err(ApiError::invalid_field("records", "is required")),
    };
    if let Some(key) = body.keys().next() {
        return Err(ApiError::invalid_field(key.clone(), "unknown field; expected only `records`"));
    }
    if records.len() > MAX_BATCH {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {MAX_BATCH} records; this one has {}: split it",
            records.len()
        )));
    }
    let mut errors = Vec::new();
    let mut writes = Vec::with_capacity(records.len());
    for (index, item) in records.into_iter().enumerate() {
        match parse_item(index, item) {
            Ok(write) => writes.push(write),
            Err(mut bad) => errors.append(&mut bad),
        }
    }
    if errors.is_empty() {
        Ok(writes)
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

fn parse_item(index: usize, item: Value) -> Result<RecordWrite, Vec<FieldError>> {
    let at = |key: &str| format!("records[{index}].{key}");
    let Value::Object(mut item) = item else {
        return Err(vec![FieldError::new(
            format!("records[{index}]"),
            "must be an object: {\"id\", \"fields\"} or {\"id\", \"deleted\": true}",
        )]);
    };
    let mut errors = Vec::new();
    let id = match item.remove("id") {
        Some(Value::String(id)) => match check_record_id(&id) {
            Ok(()) => Some(id),
            Err(message) => {
                errors.push(FieldError::new(at("id"), message));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(at("id"), "must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new(at("id"), "is required"));
            None
        }
    };
    let fields = fields_or_delete(&mut item).map_err(|(key, message)| FieldError::new(at(key), message));
    for key in item.keys() {
        errors.push(FieldError::new(at(key), "unknown field; expected `id` and `fields` or `deleted`"));
    }
    match (id, fields) {
        (Some(external_id), Ok(fields)) if errors.is_empty() => {
            Ok(RecordWrite { external_id, fields, expected_version: None })
        }
        (_, Err(error)) => {
            errors.push(error);
            Err(errors)
        }
        _ => Err(errors),
    }
}

/// `Some(fields)` for a write, `None` for a delete; `(key, message)` when neither.
fn fields_or_delete(item: &mut Map<String, Value>) -> Result<Option<Value>, (&'static str, &'static str)> {
    match (item.remove("fields"), item.remove("deleted")) {
        (Some(fields @ Value::Object(_)), None | Some(Value::Bool(false))) => Ok(Some(fields)),
        (Some(Value::Object(_)), Some(_)) => Err(("deleted", "give either `fields` or `deleted: true`, not both")),
        (Some(_), _) => Err(("fields", "must be a JSON object")),
        (None, Some(Value::Bool(true))) => Ok(None),
        (None, Some(_)) => Err(("deleted", "must be `true` (or give `fields` instead)")),
        (None, None) => Err(("fields", "is required (or `deleted: true` to delete the record)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields_of(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Invalid { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn writes_and_deletes_are_read_in_order() {
        let writes = parse_batch(json!({"records": [
            {"id": "a", "fields": {"n": 1}},
            {"id": "b", "deleted": true},
        ]}))
        .unwrap();
        assert_eq!(writes[0].fields, Some(json!({"n": 1})));
        assert_eq!(writes[1].external_id, "b");
        assert_eq!(writes[1].fields, None);
    }

    #[test]
    fn every_bad_element_is_reported() {
        let error = parse_batch(json!({"records": [
            {"id": "ok", "fields": {}},
            {"id": "", "fields": {}},
            {"id": "x", "fields": [1]},
            7,
            {"id": "y", "fields": {}, "colour": "blue"},
            {"id": "z", "fields": {}, "deleted": true},
            {"fields": {}},
        ]}))
        .unwrap_err();
        assert_eq!(
            fields_of(error),
            [
                "records[1].id",
                "records[2].fields",
                "records[3]",
                "records[4].colour",
                "records[5].deleted",
                "records[6].id"
            ]
        );
    }

    #[test]
    fn more_than_the_limit_is_refused_whole() {
        let records: Vec<Value> = (0..=MAX_BATCH).map(|i| json!({"id": i.to_string(), "fields": {}})).collect();
        assert!(matches!(parse_batch(json!({ "records": records })), Err(ApiError::PayloadTooLarge(_))));
    }
}
