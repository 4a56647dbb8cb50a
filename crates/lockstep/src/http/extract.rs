//! Extractors that answer bad input with a problem document that says what
//! is wrong, instead of axum's plain-text rejections.
//!
//! - [`Json`] reads a JSON body: a missing or wrong `Content-Type` is 415,
//!   malformed JSON 400 (with serde's line and column), JSON of the wrong
//!   shape 422 naming the field path (`admin.email`), a body over the limit
//!   413. Every body of the API is a JSON object.
//! - [`Path`] reads path parameters; one of the wrong type is 400 naming it.
//! - [`AuthAdmin`] and [`Operator`] authenticate the two kinds of caller.
//!
//! Bodies are deserialised with `serde_path_to_error` into the very types
//! the OpenAPI document describes, so the path of a bad field comes from the
//! deserialiser itself, never from parsing an error message. [`decode_value`]
//! gives the same errors for a body a handler has already merged (a JSON
//! Merge Patch applied to the stored input).
//!
//! serde reads a struct from a JSON array as readily as from an object
//! (`["Acme", …]` for `{"name": "Acme", …}`), which the document does not
//! allow. So a body must be an object, and a struct nested in one is read
//! through [`object`] (or [`objects`] for a list of them), which accepts
//! only an object.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use lockstep_store::Admin;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;

use super::problem::{ApiError, FieldError};
use super::tokens;
use crate::http::AppState;

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
        if !is_json(request.headers()) {
            return Err(not_json());
        }
        let bytes = Bytes::from_request(request, state).await.map_err(bytes_rejection)?;
        decode(&bytes).map(Json)
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
        let is_json = is_json(request.headers());
        let bytes = Bytes::from_request(request, state).await.map_err(bytes_rejection)?;
        // No body and a body of `null` both mean "none".
        let text = bytes.trim_ascii();
        if text.is_empty() || (is_json && text == b"null") {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(not_json());
        }
        decode(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// `application/json` or any `application/…+json` (such as
/// `application/merge-patch+json`), parameters aside.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(mime) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match mime.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType("send the body as JSON with `Content-Type: application/json`".into())
}

/// Deserialises JSON bytes with the same errors as [`Json`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let starts_an_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_an_object {
        // Malformed JSON is a 400 whatever its first byte; well-formed JSON
        // that is not an object is the wrong shape.
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        serde::de::IgnoredAny::deserialize(&mut deserializer).map_err(syntax_error)?;
        deserializer.end().map_err(syntax_error)?;
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    // Trailing characters after the value make the body malformed JSON.
    deserializer.end().map_err(syntax_error)?;
    Ok(value)
}

/// Deserialises a value a handler built (a merged patch), with the same
/// errors as [`Json`].
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

/// A struct read only from a JSON object (see the module doc).
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(JsonObject)
    }
}

/// For `#[serde(deserialize_with)]`: a struct, from a JSON object only.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    JsonObject::deserialize(deserializer).map(|JsonObject(value)| value)
}

/// For `#[serde(deserialize_with)]`: a list of structs, each from a JSON object only.
pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    Vec::<JsonObject<T>>::deserialize(deserializer)
        .map(|list| list.into_iter().map(|JsonObject(value)| value).collect())
}

fn syntax_error(error: serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("the body is not valid JSON: {error}"))
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if matches!(inner.classify(), Category::Syntax | Category::Eof | Category::Io) {
        return syntax_error(inner);
    }
    let message = without_position(&inner.to_string());
    let field = field_path(&path, &message);
    ApiError::Invalid { detail: format!("{field}: {message}"), errors: vec![FieldError::new(field, message)] }
}

/// serde_json ends its messages with ` at line L column C`; a data error is
/// about a field, which the path names better than a position.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_owned(),
        _ => message.to_owned(),
    }
}

/// The field a data error is about. `serde_path_to_error` names the path to
/// the value it was reading: for an unknown key that is the key itself, for
/// a missing key the object that lacks it, so the key is added from serde's
/// message. The root is `body`.
fn field_path(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    match (path, missing_or_unknown_key(message)) {
        ("", Some(key)) => key.to_owned(),
        (path, Some(key)) if path == key || path.ends_with(&format!(".{key}")) => path.to_owned(),
        (path, Some(key)) => format!("{path}.{key}"),
        ("", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    }
}

/// The key serde names in ``unknown field `colour`, expected …`` or
/// ``missing field `name` ``.
fn missing_or_unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(name, _)| name)
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the request body is larger than the server accepts (body_limit_bytes)".into())
    } else {
        ApiError::BadRequest(format!("the request body could not be read: {}", rejection.body_text()))
    }
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
                let message = format!("invalid path parameter: {}", e.body_text());
                Err(match e.into_kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::InvalidUtf8InPathParam { key } => {
                        ApiError::BadParameter { detail: message.clone(), errors: vec![FieldError::new(key, message)] }
                    }
                    _ => ApiError::BadRequest(message),
                })
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
    /// The token the request was made with.
    pub token_id: i64,
    pub admin: Admin,
}

impl FromRequestParts<AppState> for AuthAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::missing_token)?;
        // Asked on every request, never cached, and the same way for any
        // token: see `tokens::bearer` for why.
        let found = state.engine.store().token_by_hash(&tokens::hash(token)).await?;
        let token_id = found.as_ref().map_or(0, |f| f.token.id);
        let admin = tokens::bearer::admit(found, state.engine.clock().now())?;
        Ok(AuthAdmin { admin_id: admin.id, tenant_id: admin.tenant_id, token_id, admin })
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
    fn structs_are_read_from_objects_only() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Strict {
            #[serde(deserialize_with = "object")]
            admin: Inner,
            #[serde(deserialize_with = "objects")]
            more: Vec<Inner>,
        }
        let errors = field_errors(decode::<Outer>(br#"["a@b"]"#).unwrap_err());
        assert_eq!(errors[0].field, "body");
        let errors = field_errors(decode::<Strict>(br#"{"admin": ["a@b"], "more": []}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin");
        let errors = field_errors(decode::<Strict>(br#"{"admin": {"email": "a@b"}, "more": [["a@b"]]}"#).unwrap_err());
        assert_eq!(errors[0].field, "more[0]");
        let errors = field_errors(decode::<Strict>(br#"{"admin": {"email": 1}, "more": []}"#).unwrap_err());
        assert_eq!(errors[0].field, "admin.email");
        assert!(decode::<Strict>(br#"{"admin": {"email": "a@b"}, "more": [{"email": "c@d"}]}"#).is_ok());
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert!(matches!(decode::<Outer>(b"{\"admin\": "), Err(ApiError::BadRequest(_))));
        assert!(matches!(decode::<Outer>(b"{\"admin\": {\"email\": \"a\"}} x"), Err(ApiError::BadRequest(_))));
        assert!(matches!(decode::<Outer>(b"\x00"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn a_merged_value_names_its_path_too() {
        let errors = field_errors(decode_value::<Outer>(serde_json::json!({"admin": {"email": []}})).unwrap_err());
        assert_eq!(errors[0].field, "admin.email");
        assert!(!errors[0].message.contains("line"), "{:?}", errors);
    }

    #[test]
    fn json_media_types_include_the_json_suffix() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (mime, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("text/json", false),
        ] {
            headers.insert(CONTENT_TYPE, mime.parse().unwrap());
            assert_eq!(is_json(&headers), json, "{mime}");
        }
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
