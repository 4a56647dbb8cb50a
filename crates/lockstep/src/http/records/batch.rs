//! `POST /v1/records/{type}/batch`: many record writes in one transaction.
//!
//! This is the fast path, so it does the least per record: the body is
//! deserialised straight into [`BatchRequest`] (no intermediate JSON tree),
//! its `fields` move into the writes, the store is called once, and the
//! answer holds versions and changed fields but no sync views (a client
//! that wants those reads the records).
//!
//! It is all-or-nothing, and so is validation. A body of the wrong shape is
//! refused at the first element that does not fit, with its path. Every
//! element is then checked against the rules JSON Schema states only in
//! words (ids, field names, `fields` or `deleted`), and every bad one is
//! reported in the same 422, so a client fixing a large import sees all of
//! those mistakes at once.

use std::borrow::Cow;

use axum::extract::State;
use lockstep_store::RecordWrite;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::{check_record_id, record_id_schema, RecordFields, RecordTypeParam};
use crate::engine::records::write_records;
use crate::http::extract::{AuthAdmin, Json};
use crate::http::input::check_fields;
use crate::http::problem::{ApiError, FieldError, Problem};
use crate::http::AppState;

/// The most records one batch may hold.
pub const MAX_BATCH: usize = 5_000;

/// A batch of record writes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 5,000 writes, applied in order: `{"id", "fields"}` writes a
    /// record, `{"id", "deleted": true}` deletes one. More is refused with 413.
    #[serde(deserialize_with = "crate::http::extract::objects")]
    #[schema(max_items = 5000)]
    pub records: Vec<BatchItem>,
}

/// One write of a batch: `{"id", "fields"}` or `{"id", "deleted": true}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub id: String,
    /// The record's complete fields.
    #[serde(default, deserialize_with = "present")]
    pub fields: Option<Map<String, Value>>,
    /// `true` to delete the record.
    #[serde(default, deserialize_with = "present")]
    pub deleted: Option<bool>,
}

/// A key that is present must hold a value: `null` is refused rather than
/// read as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl PartialSchema for BatchItem {
    fn schema() -> RefOr<Schema> {
        let closed = || AdditionalProperties::<Schema>::FreeForm(false);
        let write = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", record_id_schema())
            .required("id")
            .property("fields", Ref::from_schema_name(RecordFields::name()))
            .required("fields")
            .property(
                "deleted",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([false]))
                    .description(Some("`false`, if given")),
            )
            .additional_properties(Some(closed()))
            .description(Some("Writes the record with these fields."));
        let delete = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", record_id_schema())
            .required("id")
            .property("deleted", ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])))
            .required("deleted")
            .additional_properties(Some(closed()))
            .description(Some("Deletes the record."));
        OneOfBuilder::new().item(write).item(delete).into()
    }
}

impl ToSchema for BatchItem {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("BatchItem")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((RecordFields::name().into_owned(), RecordFields::schema()));
        <RecordFields as ToSchema>::schemas(schemas);
    }
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
    params(RecordTypeParam),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Every write was stored", body = BatchResponse),
        (status = 409, description = "The tenant's integrations kept changing; nothing was stored, try again", body = Problem),
        (status = 413, description = "More than 5,000 records", body = Problem),
        (status = 422, description = "Invalid elements, each named in `errors`; nothing was stored", body = Problem),
    ))]
pub async fn write_batch(
    State(state): State<AppState>,
    caller: AuthAdmin,
    RecordTypeParam { record_type }: RecordTypeParam,
    Json(body): Json<BatchRequest>,
) -> Result<axum::Json<BatchResponse>, ApiError> {
    let writes = check_batch(body)?;
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

/// Turns the items into writes, or reports every bad element.
fn check_batch(body: BatchRequest) -> Result<Vec<RecordWrite>, ApiError> {
    if body.records.len() > MAX_BATCH {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {MAX_BATCH} records; this one has {}: split it",
            body.records.len()
        )));
    }
    let mut errors = Vec::new();
    let mut writes = Vec::with_capacity(body.records.len());
    for (index, item) in body.records.into_iter().enumerate() {
        match check_item(index, item) {
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

fn check_item(index: usize, item: BatchItem) -> Result<RecordWrite, Vec<FieldError>> {
    let at = |key: &str| format!("records[{index}].{key}");
    let mut errors = Vec::new();
    if let Err(message) = check_record_id(&item.id) {
        errors.push(FieldError::new(at("id"), message));
    }
    let fields = match (item.fields, item.deleted) {
        (Some(fields), None | Some(false)) => {
            errors.extend(check_fields(&fields, &at("fields.")));
            Some(Value::Object(fields))
        }
        (Some(_), Some(true)) => {
            errors.push(FieldError::new(at("deleted"), "give either `fields` or `deleted: true`, not both"));
            None
        }
        (None, Some(true)) => None,
        (None, Some(false)) => {
            errors.push(FieldError::new(at("deleted"), "must be `true` (or give `fields` instead)"));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(at("fields"), "is required (or `deleted: true` to delete the record)"));
            None
        }
    };
    if errors.is_empty() {
        Ok(RecordWrite { external_id: item.id, fields, expected_version: None })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(value: Value) -> Result<Vec<RecordWrite>, ApiError> {
        check_batch(crate::http::extract::decode_value(value)?)
    }

    fn fields_of(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Invalid { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn writes_and_deletes_are_read_in_order() {
        let writes = batch(json!({"records": [
            {"id": "a", "fields": {"n": 1}},
            {"id": "b", "deleted": true},
            {"id": "c", "fields": {}, "deleted": false},
        ]}))
        .unwrap();
        assert_eq!(writes[0].fields, Some(json!({"n": 1})));
        assert_eq!(writes[1].external_id, "b");
        assert_eq!(writes[1].fields, None);
        assert_eq!(writes[2].fields, Some(json!({})));
    }

    #[test]
    fn every_element_breaking_a_rule_is_reported() {
        let error = batch(json!({"records": [
            {"id": "ok", "fields": {}},
            {"id": "", "fields": {}},
            {"id": "x", "fields": {"a\nb": 1}},
            {"id": "y", "fields": {"a": "\u{0}"}},
            {"id": "z", "fields": {}, "deleted": true},
            {"id": "w", "deleted": false},
            {"id": "v"},
        ]}))
        .unwrap_err();
        assert_eq!(
            fields_of(error),
            [
                "records[1].id",
                "records[2].fields.a\\nb",
                "records[3].fields.a",
                "records[4].deleted",
                "records[5].deleted",
                "records[6].fields"
            ]
        );
    }

    #[test]
    fn a_body_of_the_wrong_shape_names_the_first_bad_element() {
        for (body, field) in [
            (json!({"records": [{"id": "a", "fields": {}}, {"id": "b", "fields": [1]}]}), "records[1].fields"),
            (json!({"records": [{"id": "a", "fields": {}, "colour": 1}]}), "records[0].colour"),
            (json!({"records": [{"fields": {}}]}), "records[0].id"),
            (json!({"records": [{"id": "a", "fields": null}]}), "records[0].fields"),
            (json!({"records": [7]}), "records[0]"),
            (json!({"rows": []}), "rows"),
        ] {
            assert_eq!(fields_of(batch(body.clone()).unwrap_err()), [field], "{body}");
        }
    }

    #[test]
    fn more_than_the_limit_is_refused_whole() {
        let records: Vec<Value> = (0..=MAX_BATCH).map(|i| json!({"id": i.to_string(), "fields": {}})).collect();
        assert!(matches!(batch(json!({ "records": records })), Err(ApiError::PayloadTooLarge(_))));
    }
}
