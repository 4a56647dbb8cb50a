//! The `/Users` resource endpoints (RFC 7644 §3.3–3.6): create, read, list
//! and search with filter / pagination / attribute selection, replace, patch
//! and delete, with ETags and `If-Match` preconditions.
//!
//! Handlers parse bodies themselves (from bytes, whatever the content type
//! says, `application/scim+json` or `application/json`) so every malformed
//! request gets a SCIM error instead of axum's plain-text rejection.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::directory::{user_not_found, StoredUser};
use super::error::{scim_json, ScimError};
use super::filter::Filter;
use super::projection::Projection;
use super::{patch, validate, Shared};

/// The schema URN of a list response.
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The most resources one page carries (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

type SharedState = State<Arc<Shared>>;

/// `POST /Users`
pub async fn create(State(s): SharedState, RawQuery(query): RawQuery, body: Bytes) -> Result<Response, ScimError> {
    let projection = Params::new(query).projection()?;
    let attributes = validate::parse_user(&parse_body(&body)?)?;
    let rules = s.faults.rejections();
    let mut directory = s.directory();
    let user = directory.create(attributes, &rules)?;
    let location = directory.location(&user.id);
    let response = resource_response(StatusCode::CREATED, &user, projection.apply(directory.render(&user)));
    Ok(with_header(response, header::LOCATION, &location))
}

/// `GET /Users/{id}`
pub async fn get(
    State(s): SharedState,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let projection = Params::new(query).projection()?;
    let directory = s.directory();
    let user = directory.get(&id).ok_or_else(|| user_not_found(&id))?;
    Ok(resource_response(StatusCode::OK, user, projection.apply(directory.render(user))))
}

/// `GET /Users?filter=…&startIndex=…&count=…`
pub async fn list(State(s): SharedState, RawQuery(query): RawQuery) -> Result<Response, ScimError> {
    let params = Params::new(query);
    let page = Page {
        filter: params.get("filter").map(parse_filter).transpose()?,
        start_index: params.number("startIndex")?,
        count: params.number("count")?,
        projection: params.projection()?,
    };
    Ok(list_response(&s, page))
}

/// The body of `POST /.search` (RFC 7644 §3.4.3).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SearchRequest {
    attributes: Vec<String>,
    excluded_attributes: Vec<String>,
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
}

/// `POST /Users/.search` and `POST /.search` (Users are the only resources).
pub async fn search(State(s): SharedState, body: Bytes) -> Result<Response, ScimError> {
    let request: SearchRequest = serde_json::from_value(parse_body(&body)?)
        .map_err(|e| ScimError::invalid_syntax(format!("invalid SearchRequest: {e}")))?;
    let page = Page {
        filter: request.filter.as_deref().map(parse_filter).transpose()?,
        start_index: request.start_index,
        count: request.count,
        projection: Projection::from_lists(&request.attributes, &request.excluded_attributes)?,
    };
    Ok(list_response(&s, page))
}

/// `PUT /Users/{id}`
pub async fn replace(
    State(s): SharedState,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = Params::new(query).projection()?;
    let attributes = validate::parse_user(&parse_body(&body)?)?;
    let rules = s.faults.rejections();
    let mut directory = s.directory();
    check_if_match(&headers, directory.get(&id).ok_or_else(|| user_not_found(&id))?)?;
    let user = directory.update(&id, attributes, &rules)?;
    Ok(resource_response(StatusCode::OK, &user, projection.apply(directory.render(&user))))
}

/// `PATCH /Users/{id}`
pub async fn modify(
    State(s): SharedState,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = Params::new(query).projection()?;
    let operations = patch::parse(&parse_body(&body)?)?;
    let rules = s.faults.rejections();
    let mut directory = s.directory();
    let current = directory.get(&id).ok_or_else(|| user_not_found(&id))?;
    check_if_match(&headers, current)?;
    let mut attributes = current.attributes.clone();
    patch::apply(&mut attributes, &operations)?;
    let user = directory.update(&id, attributes, &rules)?;
    Ok(resource_response(StatusCode::OK, &user, projection.apply(directory.render(&user))))
}

/// `DELETE /Users/{id}`
pub async fn delete(State(s): SharedState, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ScimError> {
    let mut directory = s.directory();
    check_if_match(&headers, directory.get(&id).ok_or_else(|| user_not_found(&id))?)?;
    directory.delete(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One page of a list or search.
struct Page {
    filter: Option<Filter>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: Projection,
}

fn list_response(s: &Shared, page: Page) -> Response {
    // RFC 7644 §3.4.2.4: startIndex below 1 means 1; a negative count means 0.
    let start = usize::try_from(page.start_index.unwrap_or(1).max(1)).unwrap_or(usize::MAX);
    let count = page.count.map_or(MAX_RESULTS, |c| usize::try_from(c.max(0)).unwrap_or(MAX_RESULTS)).min(MAX_RESULTS);
    let mut directory = s.directory();
    let (total, resources): (usize, Vec<Value>) = match &page.filter {
        Some(filter) => {
            let selection = directory.select(filter);
            s.record(|stats| stats.users_examined += selection.examined as u64);
            let total = selection.users.len();
            (total, selection.users.into_iter().skip(start - 1).take(count).map(|u| page.projection.apply(u)).collect())
        }
        // Unfiltered, only the page is rendered.
        None => {
            let total = directory.len();
            let users = directory.page(start - 1, count);
            (total, users.into_iter().map(|u| page.projection.apply(u)).collect())
        }
    };
    drop(directory);
    let mut body = json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
    });
    // Moved in, not through `json!`, which would serialise every resource
    // into a copy of itself.
    if let Value::Object(fields) = &mut body {
        fields.insert("Resources".into(), Value::Array(resources));
    }
    scim_json(StatusCode::OK, &body)
}

fn resource_response(status: StatusCode, user: &StoredUser, body: Value) -> Response {
    with_header(scim_json(status, &body), header::ETAG, &user.etag())
}

fn with_header(mut response: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `If-Match` (RFC 7644 §3.14): a write on a stale version answers 412.
fn check_if_match(headers: &HeaderMap, user: &StoredUser) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let wanted = wanted.to_str().unwrap_or_default();
    let current = user.etag();
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    if wanted.split(',').any(|tag| tag.trim() == "*" || strip(tag) == strip(&current)) {
        return Ok(());
    }
    Err(ScimError::new(
        StatusCode::PRECONDITION_FAILED,
        None,
        format!("User \"{}\" is at version {current}, not {wanted}", user.id),
    ))
}

fn parse_body(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

fn parse_filter(text: &str) -> Result<Filter, ScimError> {
    Filter::parse(text).map_err(|e| ScimError::bad_request("invalidFilter", e))
}

/// Query parameters, looked up case-insensitively.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: Option<String>) -> Self {
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> Result<Option<i64>, ScimError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, got \"{v}\"")))
            })
            .transpose()
    }

    fn projection(&self) -> Result<Projection, ScimError> {
        Projection::parse(self.get("attributes"), self.get("excludedAttributes"))
    }
}
