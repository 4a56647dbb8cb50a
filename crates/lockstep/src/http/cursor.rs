//! Cursors of the lists that page by a store sequence (an overview's
//! changes, a run's log, runs, notifications). Like the record cursors
//! (see `records/read.rs`), a cursor is opaque base64url naming the list it
//! was issued for — its kind, the tenant and the parent (an overview, a
//! run, an integration, an admin) — and the position; a cursor of another
//! list is refused with a 400 naming `cursor`. A forged one reaches
//! nothing: the tenant comes from the bearer token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::problem::ApiError;

/// Entries per page when the client names no limit.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 500;

/// The list a cursor pages.
#[derive(Debug, Clone, Copy)]
pub struct List {
    pub kind: &'static str,
    pub tenant_id: i64,
    pub parent: i64,
}

impl List {
    /// `1.<kind>.<tenant>.<parent>.<position>`, base64url.
    pub fn cursor(&self, position: i64) -> String {
        URL_SAFE_NO_PAD.encode(format!("1.{}.{}.{}.{position}", self.kind, self.tenant_id, self.parent))
    }

    /// The position a cursor of this list names.
    pub fn position(&self, cursor: &str) -> Result<i64, ApiError> {
        let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|bytes| String::from_utf8(bytes).ok());
        let parts: Option<(String, i64, i64, i64)> = text.as_deref().and_then(|text| {
            let mut parts = text.splitn(5, '.');
            match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("1"), Some(kind), Some(tenant), Some(parent), Some(position)) => {
                    Some((kind.to_owned(), tenant.parse().ok()?, parent.parse().ok()?, position.parse().ok()?))
                }
                _ => None,
            }
        });
        match parts {
            Some((kind, tenant, parent, position))
                if kind == self.kind && tenant == self.tenant_id && parent == self.parent =>
            {
                Ok(position)
            }
            Some(_) => Err(ApiError::bad_parameter("cursor", "this cursor pages another list")),
            None => Err(ApiError::bad_parameter(
                "cursor",
                "is not one this server handed out; pass `next_cursor` unchanged",
            )),
        }
    }
}

/// Reads `limit` (1–500) from a query value.
pub fn limit(value: Option<&str>) -> Result<u32, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(value) => value.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
            ApiError::bad_parameter("limit", format!("must be between 1 and {MAX_LIMIT}; got `{value}`"))
        }),
    }
}

/// The query parameters of a page: `limit`, `cursor` and one filter.
#[derive(Debug, Default)]
pub struct PageParams {
    pub limit: u32,
    pub cursor: Option<String>,
    pub filter: Option<String>,
}

/// Reads `limit`, `cursor` and the filter named `filter` from a query
/// string; other keys are ignored.
pub fn page_params(query: Option<&str>, filter: Option<&str>) -> Result<PageParams, ApiError> {
    let mut params = PageParams { limit: DEFAULT_LIMIT, ..Default::default() };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => params.limit = limit(Some(&value))?,
            "cursor" if !value.is_empty() => params.cursor = Some(value.into_owned()),
            // An empty filter is not "no filter": it names no value, and is refused.
            key if Some(key) == filter => params.filter = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_in_its_own_list() {
        let list = List { kind: "log", tenant_id: 1, parent: 7 };
        assert_eq!(list.position(&list.cursor(42)).unwrap(), 42);
        let other_tenant = List { tenant_id: 2, ..list };
        assert!(other_tenant.position(&list.cursor(42)).is_err());
        let other_parent = List { parent: 8, ..list };
        assert!(other_parent.position(&list.cursor(42)).is_err());
        assert!(list.position("garbage").is_err());
    }
}
