//! Extractors that answer bad input with a problem document that says what
//! is wrong, instead of axum's plain-text rejections.
//!
//! - [`Json`] reads a JSON body: a missing or wrong `Content-Type` is 415,
//!   malformed JSON 400 (with serde's line and column), JSON of the wrong
//!   shape 422 naming the field path (`admin.email`), a body over the limit
//!   413.
//! - [`Path`] reads path parameters; one of the wrong type is 400.
//! - [`AuthAdmin`] and [`Operator`] authenticate the two kinds of caller.
//!
//! Field paths come from axum's own JSON rejection (axum deserialises with
//! `serde_path_to_error`), so [`decode`] also serves handlers that take a
//! body apart by hand and still want precise paths.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use lockstep_store::Admin;
use serde::de::DeserializeOwned;

use super::problem::{ApiError, FieldError};
use super::tokens;
use crate::http::AppState;

/// axum's prefix on data errors; what follows is `path: message`.
const DATA_ERROR_PREFIX: &str = "Failed to deserialize the JSON body into the target type: ";

/// A JSON request body, rejected as a problem document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: an empty body is `None`, anything else must be JSON.
#[derive(Debug, Clone, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(bytes_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        decode(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Deserialises JSON bytes with the same errors as [`Json`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    axum::Json::<T>::from_bytes(bytes).map(|axum::Json(v)| v).map_err(json_rejection)
}

/// Deserialises a value taken apart by hand, with the same errors as [`Json`].
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    // Through bytes, so that the error carries the field path (see the module doc).
    let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::Internal(e.to_string()))?;
    decode(&bytes)
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send the body as JSON with `Content-Type: application/json`".into())
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("the body is not valid JSON: {}", inner_message(&e.body_text())))
        }
        JsonRejection::JsonDataError(e) => {
            let message = inner_message(&e.body_text());
            let (path, what) = split_path(&message);
            let field = match (path, unknown_field(what)) {
                // serde_path_to_error already ends the path with an unknown key, not a missing one.
                (Some(path), Some(name)) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
                (Some(path), Some(name)) => format!("{path}.{name}"),
                (None, Some(name)) => name.to_owned(),
                (Some(path), None) => path.to_owned(),
                (None, None) => "body".to_owned(),
            };
            ApiError::Invalid { detail: message.clone(), errors: vec![FieldError::new(field, what)] }
        }
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::BadRequest(other.body_text()),
    }
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the request body is larger than the server accepts (body_limit_bytes)".into())
    } else {
        ApiError::BadRequest(format!("the request body could not be read: {}", rejection.body_text()))
    }
}

/// axum's rejection text without its generic preamble.
fn inner_message(text: &str) -> String {
    let text = text.strip_prefix(DATA_ERROR_PREFIX).unwrap_or(text);
    let text = text.strip_prefix("Failed to parse the request body as JSON: ").unwrap_or(text);
    text.to_owned()
}

/// Splits `serde_path_to_error`'s `path: message`. A path is field names,
/// `[index]` and dots, never a space, which tells it apart from serde
/// messages such as `invalid type: null, …` that have no path (root errors).
fn split_path(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains(char::is_whitespace) && !path.contains('`') => {
            (Some(path), rest)
        }
        _ => (None, message),
    }
}

/// The key serde names in ``unknown field `colour`, expected …`` or
/// ``missing field `name` ``, to complete a path that stops at the object
/// holding it.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Path parameters, rejected as a problem document.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::BadRequest(format!("invalid path parameter: {}", e.body_text())))
            }
            Err(other) => Err(ApiError::Internal(other.body_text())),
        }
    }
}

/// The bearer token of a request, if it sent one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// An authenticated admin: every tenant-scoped route takes one, and scopes
/// every store call by its `tenant_id`.
#[derive(Debug, Clone)]
pub struct AuthAdmin {
    pub admin_id: i64,
    pub tenant_id: i64,
    pub admin: Admin,
}

impl FromRequestParts<AppState> for AuthAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::missing_token)?;
        // Asked on every request, never cached, and the same way for any
        // token: see `tokens::bearer` for why.
        let found = state.engine.store().token_by_hash(&tokens::hash(token)).await?;
        let admin = tokens::bearer::admit(found, state.engine.clock().now())?;
        Ok(AuthAdmin { admin_id: admin.id, tenant_id: admin.tenant_id, admin })
    }
}

/// The platform's operator, who may create tenants.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.config.operator_token.as_deref() else {
            return Err(ApiError::Forbidden("tenant creation is disabled: set LOCKSTEP_OPERATOR_TOKEN".into()));
        };
        let token = bearer(&parts.headers).ok_or_else(ApiError::missing_token)?;
        // Constant time: the operator token is compared directly, not looked up by hash.
        if tokens::constant_time_eq(token, expected) {
            Ok(Operator)
        } else {
            Err(ApiError::bad_token())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        admin: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        email: String,
    }

    fn field_errors(error: ApiError) -> Vec<FieldError> {
        match error {
            ApiError::Invalid { errors, .. } => errors,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let errors = field_errors(decode::<Outer>(br#"{"admin": {"email": 5}}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin.email");
        assert!(errors[0].message.contains("invalid type"), "{:?}", errors);
    }

    #[test]
    fn an_unknown_field_is_named() {
        let errors = field_errors(decode::<Outer>(br#"{"admin": {"email": "a@b", "colour": 1}}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin.colour");
        assert!(errors[0].message.contains("unknown field `colour`"), "{:?}", errors);
    }

    #[test]
    fn a_missing_field_is_named() {
        let errors = field_errors(decode::<Outer>(br#"{"admin": {}}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin.email");
        let errors = field_errors(decode::<Outer>(br#"{}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin");
    }

    #[test]
    fn a_root_error_has_no_path() {
        let errors = field_errors(decode::<Outer>(b"5").unwrap_err());
        assert_eq!(errors[0].field, "body");
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert!(matches!(decode::<Outer>(b"{\"admin\": "), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "bearer lst_abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("lst_abc"));
        headers.insert(AUTHORIZATION, "Basic dXNlcg==".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
