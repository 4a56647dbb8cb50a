//! What sits around the SCIM handlers: the bearer-token gate, the fault and
//! accounting layer with request logging, and the `/_sandbox` control
//! endpoints a test or a person uses to flip faults and read counters over
//! HTTP (`GET`/`PUT /_sandbox/faults`, `GET`/`DELETE /_sandbox/stats`,
//! `GET /_sandbox` for an overview), and `POST /_sandbox/users`, which
//! fills the directory with many Users in one request (a directory of a
//! million Users, created one `POST /Users` at a time, takes minutes).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{scim_json, ScimError};
use super::faults::FaultSettings;
use super::{validate, Shared};

/// Requires `Authorization: Bearer <token>` when the sandbox has a token.
pub async fn require_token(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(token) = &s.bearer_token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        )
        .into_response(),
    }
}

/// Compares secrets without an early exit, so timing does not leak a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Applies latency and injected failures, counts resource requests and logs
/// every request at info level.
pub async fn faults_and_accounting(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = if path == "/_sandbox" || path.starts_with("/_sandbox/") {
        next.run(request).await
    } else {
        // The latency comes first: a slow directory is slow to fail too.
        let latency = s.faults.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let is_search = path == "/.search" || path == "/Users/.search";
        let is_users = path == "/Users" || path.starts_with("/Users/");
        if is_search || is_users {
            let failure = s.faults.take_failure();
            s.record(|stats| {
                if is_search {
                    stats.searches += 1;
                } else {
                    *stats.by_method.entry(method.as_str().to_string()).or_default() += 1;
                }
                if failure.is_some() {
                    stats.failed_by_faults += 1;
                }
            });
            match failure {
                Some(error) => error.into_response(),
                None => next.run(request).await,
            }
        } else {
            next.run(request).await
        }
    };
    tracing::info!(
        sandbox = %s.name,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "sandbox request"
    );
    response
}

/// Any path the sandbox does not serve.
pub async fn not_found(request: Request) -> Response {
    ScimError::not_found(format!("no such endpoint: {}", request.uri().path())).into_response()
}

/// A method an endpoint does not support.
pub async fn method_not_allowed(method: Method) -> Response {
    ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, format!("{method} is not supported on this endpoint"))
        .into_response()
}

/// `GET /_sandbox`
pub async fn overview(State(s): State<Arc<Shared>>) -> Response {
    let users = s.directory().len();
    let body = json!({
        "name": s.name,
        "base_url": s.base_url,
        "users": users,
        "faults": s.faults.settings(),
        "stats": s.stats(),
    });
    json_response(StatusCode::OK, &body)
}

/// The largest body `POST /_sandbox/users` takes: some 200,000 Users.
pub const SEED_BODY_LIMIT: usize = 64 << 20;

/// `POST /_sandbox/users` with `{"Users": [User, …]}`: stores every User
/// as `POST /Users` would (the same schema checks, `userName` unique), but
/// without faults, reject rules, request counts or a log line per User;
/// all or none. Answers `201 {"created": n, "users": total}`, or the SCIM
/// error of the first User refused, its position in the detail.
pub async fn seed_users(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, ScimError> {
    #[derive(serde::Deserialize)]
    struct Seed {
        #[serde(rename = "Users")]
        users: Vec<serde_json::Value>,
    }
    let seed: Seed = serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("expected {{\"Users\": [User, …]}}: {e}")))?;
    // Everything is checked before the directory is locked: a refused body
    // changes nothing and holds no one up.
    let mut users = Vec::with_capacity(seed.users.len());
    for (position, user) in seed.users.iter().enumerate() {
        users.push(validate::parse_user(user).map_err(|e| at_position(position, e))?);
    }
    let mut directory = s.directory();
    let created = directory.create_all(users).map_err(|(position, e)| at_position(position, e))?;
    let total = directory.len();
    drop(directory);
    tracing::info!(sandbox = %s.name, created, users = total, "sandbox seeded");
    Ok(json_response(StatusCode::CREATED, &json!({"created": created, "users": total})))
}

fn at_position(position: usize, error: ScimError) -> ScimError {
    ScimError { detail: format!("Users[{position}]: {}", error.detail), ..error }
}

/// `GET /_sandbox/faults`
pub async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &json!(s.faults.settings()))
}

/// `PUT /_sandbox/faults`: replaces every switch (missing fields switch off).
pub async fn put_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, ScimError> {
    let settings: FaultSettings =
        serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("invalid fault settings: {e}")))?;
    settings.validate().map_err(ScimError::invalid_value)?;
    tracing::info!(sandbox = %s.name, faults = ?settings, "sandbox faults replaced");
    s.faults.replace(settings);
    Ok(json_response(StatusCode::OK, &json!(s.faults.settings())))
}

/// `GET /_sandbox/stats`
pub async fn get_stats(State(s): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &json!(s.stats()))
}

/// `DELETE /_sandbox/stats`: zeroes the counters.
pub async fn reset_stats(State(s): State<Arc<Shared>>) -> StatusCode {
    s.record(|stats| *stats = Default::default());
    StatusCode::NO_CONTENT
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = scim_json(status, body);
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}
