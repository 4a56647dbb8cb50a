//! Reading records: one by id, or a type's records a page at a time.
//!
//! Pages follow the store's id order. The cursor is the last row's store id,
//! base64url-encoded so clients treat it as opaque (and so the encoding can
//! change without breaking them). One extra row is fetched to know whether
//! another page exists, so the last page says `next_cursor: null` instead
//! of sending the client after an empty one.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::{check_record_type, view, views, RecordKey, RecordView};
use crate::http::extract::{AuthAdmin, Path};
use crate::http::problem::{ApiError, Problem};
use crate::http::AppState;

/// Records per page when the client names no limit.
const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
const MAX_LIMIT: u32 = 500;

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    pub data: Vec<RecordView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One record, with its sync state.
#[utoipa::path(get, path = "/v1/records/{type}/{id}", tag = "records", security(("bearer" = [])),
    params(
        ("type" = String, Path, description = "The record type, e.g. `employee`"),
        ("id" = String, Path, description = "The client's id of the record"),
    ),
    responses(
        (status = 200, description = "The record; `ETag` holds its version", body = RecordView),
        (status = 404, description = "No such record in the tenant", body = Problem),
    ))]
pub async fn get_record(
    State(state): State<AppState>,
    caller: AuthAdmin,
    key: RecordKey,
) -> Result<impl IntoResponse, ApiError> {
    let record = state
        .engine
        .store()
        .get_record(caller.tenant_id, &key.record_type, &key.id)
        .await?
        .ok_or_else(|| super::write::not_found(&key))?;
    let view = view(&state, caller.tenant_id, record).await?;
    Ok((view.etag(), axum::Json(view)))
}

/// A type's records, a page at a time.
#[utoipa::path(get, path = "/v1/records/{type}", tag = "records", security(("bearer" = [])),
    params(
        ("type" = String, Path, description = "The record type"),
        ("limit" = Option<u32>, Query, description = "Records per page: 1–500, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of records", body = RecordPage),
        (status = 400, description = "A bad limit or cursor", body = Problem),
    ))]
pub async fn list_records(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(record_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<RecordPage>, ApiError> {
    check_record_type(&record_type)?;
    let (limit, after) = page_params(query.as_deref().unwrap_or_default())?;
    let mut records = state.engine.store().list_records(caller.tenant_id, &record_type, after, limit + 1).await?;
    let next_cursor = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    let data = views(&state, caller.tenant_id, &record_type, records).await?;
    Ok(axum::Json(RecordPage { data, next_cursor }))
}

/// Reads `limit` and `cursor` from a query string; anything else is ignored.
fn page_params(query: &str) -> Result<(u32, Option<i64>), ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                    ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}; got `{value}`"))
                })?;
            }
            "cursor" if !value.is_empty() => after = Some(decode_cursor(&value)?),
            _ => {}
        }
    }
    Ok((limit, after))
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("r{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix('r').and_then(|id| id.parse().ok()))
        .ok_or_else(|| {
            ApiError::BadRequest("cursor is not one this server handed out; pass `next_cursor` unchanged".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(1_234_567)).unwrap(), 1_234_567);
        for bad in ["", "!!", "cjEyYQ", "MTIz"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_default_to_50_and_stop_at_500() {
        assert_eq!(page_params("").unwrap(), (50, None));
        assert_eq!(page_params("limit=500").unwrap().0, 500);
        for bad in ["limit=0", "limit=501", "limit=-1", "limit=ten"] {
            assert!(page_params(bad).is_err(), "{bad}");
        }
        let cursor = encode_cursor(9);
        assert_eq!(page_params(&format!("cursor={cursor}&limit=2")).unwrap(), (2, Some(9)));
    }
}
