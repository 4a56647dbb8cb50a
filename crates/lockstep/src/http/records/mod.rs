//! Records: the objects the platform owns, written and read per record type.
//!
//! - [`read`]: `GET /v1/records/{type}/{id}` and the paged list.
//! - [`write`]: `PUT`, `PATCH` (JSON Merge Patch), `DELETE` and `retry`.
//! - [`batch`]: `POST /v1/records/{type}/batch`, the fast path for bulk
//!   writes (one store transaction, no sync views in the answer).
//!
//! A record's id is the client's own string; the store's integer id never
//! leaves the server except inside an opaque list cursor. Every record
//! answer of a single record carries its version as a strong `ETag`, and
//! writes accept `If-Match` with it for optimistic concurrency.

pub mod batch;
pub mod read;
pub mod write;

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use lockstep_store::Record;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::extract::Path;
use super::input::{self, NO_CONTROLS_PATTERN};
use super::integration_input::record_type_schema;
use super::problem::ApiError;
use crate::domain::integration::validate_record_type;
use crate::engine::records::{load_sync_views, SyncView};
use crate::http::AppState;

/// The longest record id accepted, in characters.
pub const MAX_RECORD_ID_CHARS: usize = 255;

/// A record as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordView {
    /// The client's id of the record.
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// The record's fields: a JSON object.
    #[schema(value_type = Object)]
    pub fields: Value,
    /// Starts at 1; grows with every write that changes something.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The record's sync state in each integration, its badge, and which
    /// integrations sync each field.
    pub sync: SyncView,
    /// On write answers: the field paths the write changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_fields: Option<Vec<String>>,
}

impl RecordView {
    pub(crate) fn new(record: Record, sync: SyncView) -> Self {
        Self {
            id: record.external_id,
            record_type: record.record_type,
            fields: record.fields,
            version: record.version,
            created_at: record.created_at,
            updated_at: record.updated_at,
            sync,
            changed_fields: None,
        }
    }

    /// The strong validator of this version, for `ETag` and `If-Match`.
    fn etag(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", self.version)) {
            headers.insert(ETAG, value);
        }
        headers
    }
}

/// The views of records of one type, with their sync state.
pub async fn views(
    state: &AppState,
    tenant_id: i64,
    record_type: &str,
    records: Vec<Record>,
) -> Result<Vec<RecordView>, ApiError> {
    let syncs = load_sync_views(&state.engine, tenant_id, record_type, &records).await?;
    Ok(records.into_iter().zip(syncs).map(|(r, s)| RecordView::new(r, s)).collect())
}

/// The view of one record.
pub async fn view(state: &AppState, tenant_id: i64, record: Record) -> Result<RecordView, ApiError> {
    let record_type = record.record_type.clone();
    views(state, tenant_id, &record_type, vec![record])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal("a record's view went missing".into()))
}

/// Checks a record id: 1–255 characters, none of them control characters.
pub fn check_record_id(id: &str) -> Result<(), &'static str> {
    let length = id.chars().count();
    if !(1..=MAX_RECORD_ID_CHARS).contains(&length) {
        Err("must be 1–255 characters")
    } else if input::has_control(id) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

/// The schema of a record id ([`check_record_id`]).
pub fn record_id_schema() -> Object {
    input::text_schema(1, Some(MAX_RECORD_ID_CHARS), NO_CONTROLS_PATTERN)
        .description(Some("The client's id of the record: 1–255 characters, no control characters."))
        .build()
}

/// Checks a `{type}` path segment.
pub fn check_record_type(record_type: &str) -> Result<(), ApiError> {
    validate_record_type(record_type).map_err(|e| ApiError::bad_parameter("type", e.message))
}

/// The `{type}` of a route about one record type, validated.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordTypeParam {
    /// The record type, e.g. `employee`.
    #[param(rename = "type", schema_with = record_type_schema)]
    pub record_type: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RecordTypeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let record_type = params.remove("type").unwrap_or_default();
        check_record_type(&record_type)?;
        Ok(Self { record_type })
    }
}

/// The `{type}` and `{id}` of a record route, both validated.
///
/// `POST /v1/records/{type}/batch` shadows a record whose id is `batch`;
/// that route also carries the record methods, and there the id is the
/// literal segment, so such a record stays reachable.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordKey {
    /// The record type, e.g. `employee`.
    #[param(rename = "type", schema_with = record_type_schema)]
    pub record_type: String,
    /// The client's id of the record.
    #[param(schema_with = record_id_schema)]
    pub id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RecordKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let record_type = params.remove("type").unwrap_or_default();
        let id = match params.remove("id") {
            Some(id) => id,
            None if parts.uri.path().ends_with("/batch") => "batch".to_owned(),
            None => return Err(ApiError::Internal(format!("route {} has no record id", parts.uri.path()))),
        };
        check_record_type(&record_type)?;
        check_record_id(&id).map_err(|m| ApiError::bad_parameter("id", m))?;
        Ok(Self { record_type, id })
    }
}

/// A record's fields, as a request sends them: a JSON object whose keys
/// hold no control characters and whose text values hold no U+0000, at
/// any depth (see [`input::check_fields`]). Only a schema: handlers read a
/// `Map<String, Value>` and check it.
pub struct RecordFields;

impl PartialSchema for RecordFields {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(NO_CONTROLS_PATTERN))))
            .additional_properties(Some(AdditionalProperties::RefOr(Ref::from_schema_name(FieldValue::name()).into())))
            .description(Some(
                "A record's fields: a JSON object. Names hold no control characters and text values no \
                 U+0000, at any depth.",
            ))
            .into()
    }
}

impl ToSchema for RecordFields {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecordFields")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((FieldValue::name().into_owned(), FieldValue::schema()));
    }
}

/// The value of one field of a record, at any depth.
pub struct FieldValue;

impl PartialSchema for FieldValue {
    fn schema() -> RefOr<Schema> {
        let text = input::text_schema(0, None, input::NO_NUL_PATTERN).build();
        let scalar = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Number, Type::Boolean, Type::Null]))
            .build();
        let list = ArrayBuilder::new().items(Ref::from_schema_name(FieldValue::name())).build();
        OneOfBuilder::new().item(text).item(scalar).item(list).item(Ref::from_schema_name(RecordFields::name())).into()
    }
}

impl ToSchema for FieldValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldValue")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((RecordFields::name().into_owned(), RecordFields::schema()));
    }
}

/// The version an `If-Match` header demands: `"3"` (or `W/"3"`, or a bare `3`).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let bare = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    let digits = !bare.is_empty() && bare.len() <= 18 && bare.bytes().all(|b| b.is_ascii_digit());
    match bare.parse::<i64>() {
        Ok(version) if digits => Ok(Some(version)),
        _ => {
            Err(ApiError::bad_parameter("If-Match", format!("must name a record version, e.g. `\"3\"`; got `{text}`")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_1_to_255_characters_without_controls() {
        assert!(check_record_id("e-1").is_ok());
        assert!(check_record_id(&"ü".repeat(255)).is_ok());
        assert!(check_record_id("").is_err());
        assert!(check_record_id(&"a".repeat(256)).is_err());
        assert!(check_record_id("a\nb").is_err());
    }

    #[test]
    fn if_match_accepts_quoted_weak_and_bare_versions() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        for (raw, version) in [("\"3\"", 3), ("W/\"4\"", 4), ("5", 5)] {
            headers.insert(IF_MATCH, raw.parse().unwrap());
            assert_eq!(if_match(&headers).unwrap(), Some(version));
        }
        for bad in ["\"abc\"", "\"-1\"", "+5", "\"\"5\"\"", "\"5", "*"] {
            headers.insert(IF_MATCH, bad.parse().unwrap());
            assert!(if_match(&headers).is_err(), "{bad}");
        }
    }
}
