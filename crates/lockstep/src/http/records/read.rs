//! Reading records: one by id, or a type's records a page at a time.
//!
//! Pages follow the store's id order. One extra row is fetched to know
//! whether another page exists, so the last page says `next_cursor: null`
//! instead of sending the client after an empty one.
//!
//! A cursor is opaque to clients (base64url, so the encoding can change
//! without breaking them) and names the list it was issued for: the
//! tenant, the record type and the last row's store id. A cursor of another
//! tenant or another record type is refused with a 400 naming `cursor`,
//! rather than quietly paging a different list from an unrelated position.
//!
//! It carries no signature because a forged one reaches nothing: the tenant
//! comes from the bearer token, never from the cursor, and the store id only
//! says where in the caller's own list to start. Editing the id skips or
//! repeats the caller's own records; editing the tenant or the type gets the
//! 400. What a cursor does reveal is a store id, which grows with every
//! record written on the server, so its value says roughly how many records
//! exist in all; nothing else about other tenants.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{view, views, RecordKey, RecordTypeParam, RecordView};
use crate::http::extract::AuthAdmin;
use crate::http::problem::{ApiError, Problem};
use crate::http::AppState;

/// Records per page when the client names no limit.
const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
const MAX_LIMIT: u32 = 500;

/// The query of a list of records.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Records per page: 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of the same list, unchanged.
    pub cursor: Option<String>,
}

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    pub data: Vec<RecordView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One record, with its sync state.
#[utoipa::path(get, path = "/v1/records/{type}/{id}", tag = "records", security(("bearer" = [])),
    params(RecordKey),
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
    params(RecordTypeParam, PageQuery),
    responses(
        (status = 200, description = "A page of records", body = RecordPage),
        (status = 400, description = "A bad type, limit or cursor (one of another list), named in `errors`", body = Problem),
    ))]
pub async fn list_records(
    State(state): State<AppState>,
    caller: AuthAdmin,
    RecordTypeParam { record_type }: RecordTypeParam,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<RecordPage>, ApiError> {
    let list = List { tenant_id: caller.tenant_id, record_type: &record_type };
    let (limit, after) = page_params(query.as_deref().unwrap_or_default(), &list)?;
    let mut records = state.engine.store().list_records(caller.tenant_id, &record_type, after, limit + 1).await?;
    let next_cursor = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|r| encode_cursor(&list, r.id))
    } else {
        None
    };
    let data = views(&state, caller.tenant_id, &record_type, records).await?;
    Ok(axum::Json(RecordPage { data, next_cursor }))
}

/// The list a cursor belongs to.
struct List<'a> {
    tenant_id: i64,
    record_type: &'a str,
}

/// Reads `limit` and `cursor` from a query string; anything else is ignored.
fn page_params(query: &str, list: &List<'_>) -> Result<(u32, Option<i64>), ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                    ApiError::bad_parameter("limit", format!("must be between 1 and {MAX_LIMIT}; got `{value}`"))
                })?;
            }
            "cursor" if !value.is_empty() => after = Some(decode_cursor(&value, list)?),
            _ => {}
        }
    }
    Ok((limit, after))
}

/// `1.<tenant>.<type>.<store id>`, base64url. A record type holds no `.`.
fn encode_cursor(list: &List<'_>, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("1.{}.{}.{id}", list.tenant_id, list.record_type))
}

fn decode_cursor(cursor: &str, list: &List<'_>) -> Result<i64, ApiError> {
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|bytes| String::from_utf8(bytes).ok());
    let parts = text.as_deref().and_then(|text| {
        let mut parts = text.splitn(4, '.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("1"), Some(tenant), Some(record_type), Some(id)) => {
                Some((tenant.parse::<i64>().ok()?, record_type.to_owned(), id.parse::<i64>().ok()?))
            }
            _ => None,
        }
    });
    match parts {
        Some((tenant_id, record_type, id)) if tenant_id == list.tenant_id && record_type == list.record_type => Ok(id),
        Some(_) => Err(ApiError::bad_parameter(
            "cursor",
            format!("this cursor pages another list, not the {} records of this tenant", list.record_type),
        )),
        None => {
            Err(ApiError::bad_parameter("cursor", "is not one this server handed out; pass `next_cursor` unchanged"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME_EMPLOYEES: List<'static> = List { tenant_id: 7, record_type: "employee" };

    fn cursor_field(error: ApiError) -> String {
        match error {
            ApiError::BadParameter { errors, .. } => errors[0].field.clone(),
            other => panic!("expected a 400 naming a parameter, got {other:?}"),
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(&ACME_EMPLOYEES, 1_234_567);
        assert_eq!(decode_cursor(&cursor, &ACME_EMPLOYEES).unwrap(), 1_234_567);
        for bad in ["", "!!", "cjEyYQ", "MTIz", &URL_SAFE_NO_PAD.encode("1.7.employee.x")] {
            assert_eq!(cursor_field(decode_cursor(bad, &ACME_EMPLOYEES).unwrap_err()), "cursor", "{bad}");
        }
    }

    #[test]
    fn a_cursor_of_another_tenant_or_type_is_refused() {
        let cursor = encode_cursor(&ACME_EMPLOYEES, 9);
        let other_tenant = List { tenant_id: 8, record_type: "employee" };
        let other_type = List { tenant_id: 7, record_type: "contractor" };
        assert_eq!(cursor_field(decode_cursor(&cursor, &other_tenant).unwrap_err()), "cursor");
        assert_eq!(cursor_field(decode_cursor(&cursor, &other_type).unwrap_err()), "cursor");
    }

    #[test]
    fn limits_default_to_50_and_stop_at_500() {
        assert_eq!(page_params("", &ACME_EMPLOYEES).unwrap(), (50, None));
        assert_eq!(page_params("limit=500", &ACME_EMPLOYEES).unwrap().0, 500);
        for bad in ["limit=0", "limit=501", "limit=-1", "limit=ten"] {
            assert_eq!(cursor_field(page_params(bad, &ACME_EMPLOYEES).unwrap_err()), "limit", "{bad}");
        }
        let cursor = encode_cursor(&ACME_EMPLOYEES, 9);
        assert_eq!(page_params(&format!("cursor={cursor}&limit=2"), &ACME_EMPLOYEES).unwrap(), (2, Some(9)));
    }
}
