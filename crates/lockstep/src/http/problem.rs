//! RFC 9457 problem details: the one shape every error of the API takes.
//!
//! Handlers return [`ApiError`]; its [`IntoResponse`] writes an
//! `application/problem+json` document `{type, title, status, detail,
//! instance?, errors?}`. Two things make "every error is a problem" hold for
//! responses no handler wrote:
//!
//! - [`finish`], a middleware around the whole router, fills in `instance`
//!   (the request path, which `IntoResponse` cannot see) and turns any other
//!   error response (axum's bare 405, a layer's plain-text 413) into a
//!   problem of the same status, keeping headers such as `Allow`. An HTML
//!   page (the one a notification email's link opens) is left as written.
//! - Store failures become an opaque 500 whose detail carries a short
//!   reference that also appears in the log line holding the real cause, so
//!   an operator can find it without the client learning about the database.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockstep_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input: the field (a path such as `records[3].fields`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// An RFC 9457 problem document, as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:lockstep:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words.
    pub detail: String,
    /// The request path the problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The invalid inputs, on validation problems (422) and bad parameters (400).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every way a request can fail, each one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON).
    #[error("{0}")]
    BadRequest(String),
    /// 400: a path or query parameter is invalid (a record type outside the
    /// pattern, a cursor of another list); `errors` names each parameter.
    #[error("{detail}")]
    BadParameter { detail: String, errors: Vec<FieldError> },
    /// 401: no bearer token, or one that names no one. `invalid_token` adds
    /// RFC 6750's `error="invalid_token"` to the challenge when a token was sent.
    #[error("{detail}")]
    Unauthorized { detail: String, invalid_token: bool },
    /// 403: authenticated, or not, but this is not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: absent, or another tenant's.
    #[error("{0}")]
    NotFound(String),
    /// 409: a unique name or email is taken, or the state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` named a version the resource no longer has.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: the body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: readable but invalid; `errors` names each invalid field.
    #[error("{detail}")]
    Invalid { detail: String, errors: Vec<FieldError> },
    /// 503: a dependency (the store) is not answering.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or a database failure. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 about one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Invalid { detail: format!("{}: {}", error.field, error.message), errors: vec![error] }
    }

    /// A 400 about one path or query parameter.
    pub fn bad_parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(name, message);
        Self::BadParameter { detail: format!("{}: {}", error.field, error.message), errors: vec![error] }
    }

    /// A 422 about several fields (at least one).
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid; see `errors`", many.len()),
        };
        Self::Invalid { detail, errors }
    }

    /// A 401 for a request without a bearer token.
    pub fn missing_token() -> Self {
        Self::Unauthorized {
            detail: "send a bearer token: `Authorization: Bearer <token>`".into(),
            invalid_token: false,
        }
    }

    /// A 401 for a bearer token that names no one.
    pub fn bad_token() -> Self {
        Self::Unauthorized { detail: "the bearer token is not valid".into(), invalid_token: true }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Invalid { .. } => "validation",
            ApiError::PreconditionFailed(_) => "version-mismatch",
            other => slug_for(other.status()),
        }
    }
}

/// The problem-type slug of a status, for problems nobody named more precisely.
fn slug_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        409 => "conflict",
        412 => "precondition-failed",
        413 => "body-too-large",
        415 => "unsupported-media-type",
        422 => "validation",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "client-error",
    }
}

impl Problem {
    fn new(status: StatusCode, slug: &str, detail: String, errors: Vec<FieldError>) -> Self {
        Self {
            kind: format!("urn:lockstep:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            errors,
        }
    }

    fn into_response_with(self, mut headers: axum::http::HeaderMap) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Serialising plain strings and numbers cannot fail.
        let body = serde_json::to_vec(&self).unwrap_or_default();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.remove(header::CONTENT_LENGTH);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let slug = self.slug();
        let mut headers = axum::http::HeaderMap::new();
        let (detail, errors) = match self {
            ApiError::Internal(cause) => {
                let reference = hex::encode(rand::random::<[u8; 6]>());
                tracing::error!(%reference, %cause, "request failed");
                (format!("an internal error occurred (reference {reference}); it has been logged"), Vec::new())
            }
            ApiError::Unauthorized { detail, invalid_token } => {
                let challenge = if invalid_token {
                    r#"Bearer realm="lockstep", error="invalid_token""#
                } else {
                    r#"Bearer realm="lockstep""#
                };
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                (detail, Vec::new())
            }
            ApiError::Invalid { detail, errors } | ApiError::BadParameter { detail, errors } => (detail, errors),
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::PreconditionFailed(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Unavailable(d) => (d, Vec::new()),
        };
        Problem::new(status, slug, detail, errors).into_response_with(headers)
    }
}

impl From<StoreError> for ApiError {
    /// Conflicts are the client's to resolve; anything else is ours, and
    /// opaque. A `VersionConflict` reaching here was not expected by the
    /// handler (those that send `If-Match` map it to 412 themselves).
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::VersionConflict { external_id, expected, found } => ApiError::Conflict(format!(
                "record `{external_id}` changed meanwhile: expected version {expected}, found {found}; read it again and retry"
            )),
            StoreError::IntegrationsChanged { .. } => ApiError::Conflict(
                "the tenant's integrations kept changing while the write was planned; nothing was stored, \
                 send it again"
                    .into(),
            ),
            // The request's validation should have named the field first;
            // this is the backstop, still the client's to fix and never a 500.
            StoreError::Refused(what) => ApiError::Invalid {
                detail: format!("a value in the request cannot be stored: {what}"),
                errors: Vec::new(),
            },
            StoreError::Database(_) | StoreError::Corrupt(_) => ApiError::Internal(error.to_string()),
        }
    }
}

/// Middleware around the whole router: sets `instance` on problems and makes
/// every other error response a problem too.
pub async fn finish(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if let Some(problem) = response.extensions().get::<Problem>().cloned() {
        let (parts, _) = response.into_parts();
        return Problem { instance: Some(path), ..problem }.into_response_with(parts.headers);
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes).unwrap_or_default();
    let is_problem = content_type.starts_with(PROBLEM_JSON.as_bytes());
    // A page written for a browser (the one a notification email's link
    // opens) says what went wrong in its own words.
    let is_page = content_type.starts_with(b"text/html");
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let (parts, _) = response.into_parts();
    let detail = generic_detail(status, &parts.headers, &path);
    let problem = Problem { instance: Some(path), ..Problem::new(status, slug_for(status), detail, Vec::new()) };
    problem.into_response_with(parts.headers)
}

/// Words for an error response that no handler described.
fn generic_detail(status: StatusCode, headers: &axum::http::HeaderMap, path: &str) -> String {
    match status {
        StatusCode::NOT_FOUND => format!("no resource at `{path}`"),
        StatusCode::METHOD_NOT_ALLOWED => match headers.get(header::ALLOW).and_then(|v| v.to_str().ok()) {
            Some(allowed) => format!("`{path}` does not support this method; it allows {allowed}"),
            None => format!("`{path}` does not support this method"),
        },
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than the server accepts".into(),
        other => other.canonical_reason().unwrap_or("the request failed").to_lowercase(),
    }
}

/// The body of a fallback route: nothing here.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("no resource at `{}`", request.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_database_failure_is_an_opaque_500() {
        let response = ApiError::from(StoreError::Database("password authentication failed".into())).into_response();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_json(response).await;
        assert!(!body["detail"].as_str().unwrap().contains("password"), "{body}");
    }

    #[tokio::test]
    async fn a_validation_problem_lists_its_fields() {
        let response = ApiError::invalid_field("connector.base_url", "refused").into_response();
        assert_eq!(response.status(), 422);
        let body = body_json(response).await;
        assert_eq!(body["errors"][0]["field"], "connector.base_url");
        assert_eq!(body["status"], 422);
        assert_eq!(body["type"], "urn:lockstep:problem:validation");
    }

    #[tokio::test]
    async fn a_401_challenges_for_a_bearer_token() {
        let response = ApiError::bad_token().into_response();
        assert_eq!(response.status(), 401);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }

    #[test]
    fn conflicts_stay_conflicts() {
        assert_eq!(ApiError::from(StoreError::Conflict("email taken".into())).status(), StatusCode::CONFLICT);
        let version = StoreError::VersionConflict { external_id: "e".into(), expected: 1, found: 2 };
        assert_eq!(ApiError::from(version).status(), StatusCode::CONFLICT);
    }
}
