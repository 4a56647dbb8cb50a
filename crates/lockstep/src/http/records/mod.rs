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

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use lockstep_store::Record;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::Path;
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
    } else if id.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

/// Checks a `{type}` path segment.
pub fn check_record_type(record_type: &str) -> Result<(), ApiError> {
    validate_record_type(record_type)
        .map_err(|e| ApiError::BadRequest(format!("record type `{record_type}` {}", e.message)))
}

/// The `{type}` and `{id}` of a record route, both validated.
///
/// `POST /v1/records/{type}/batch` shadows a record whose id is `batch`;
/// that route also carries the record methods, and there the id is the
/// literal segment, so such a record stays reachable.
#[derive(Debug, Clone)]
pub struct RecordKey {
    pub record_type: String,
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
        check_record_id(&id).map_err(|m| ApiError::BadRequest(format!("record id {m}")))?;
        Ok(Self { record_type, id })
    }
}

/// The version an `If-Match` header demands: `"3"` (or `W/"3"`, or a bare `3`).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let bare = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    bare.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("If-Match must name a record version, e.g. `\"3\"`; got `{text}`")))
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
        headers.insert(IF_MATCH, "\"abc\"".parse().unwrap());
        assert!(if_match(&headers).is_err());
    }
}
