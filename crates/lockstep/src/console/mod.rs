//! The admin console: server-rendered pages for a tenant's admins, served
//! by the same binary under `/console`.
//!
//! An admin arrives by a one-time sign-in link their platform asked for
//! ([`session`]); every page then shows what that admin's token reaches,
//! and nothing of another tenant (another tenant's record, integration,
//! overview or run is a 404 page, as an absent one is).
//!
//! - [`records`]: a type's records with their status badges; a record's page
//!   with its badge, a panel per integration, its synced fields, and Retry;
//! - [`integrations`]: the integrations with counts per status; one
//!   integration's setup, recent overviews and runs, *Run Sync Overview*
//!   and *Sync Now*;
//! - [`operations`]: a Sync Overview (or "Sync Overview data no longer
//!   valid") and a run's Sync Log;
//! - [`notifications`]: the bell's list; [`settings`]: the tenant's settings;
//! - [`live`]: the Server-Sent Events that keep an open page current;
//! - [`page`]: the header every page shares, rendering, error pages;
//!   [`words`]: how statuses are named and marked; [`assets`]: the embedded
//!   htmx, stylesheet and script; [`security`]: the headers of every answer.
//!
//! Templates are askama's, in `crates/lockstep/templates/console/`,
//! compiled into the binary and checked against their data at build time.
//! Pages work without JavaScript (every action is a form, every filter a
//! link); htmx adds the live parts, the search as one types, and the
//! CSRF header.

pub mod assets;
pub mod integrations;
pub mod live;
pub mod notifications;
pub mod operations;
pub mod page;
pub mod records;
pub mod security;
pub mod session;
pub mod settings;
pub mod words;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;
use page::{message_page, PageError};
use session::ConsoleAdmin;

/// The console's routes, with their middleware: the security headers on
/// every answer, the CSRF guard on every change, and error pages for the
/// errors axum answers itself (a malformed id in a path, a bad form).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/assets/{name}", get(assets::asset))
        .route("/console/live", get(live::live))
        .route("/console/records/{type}", get(records::list))
        .route("/console/records/{type}/{id}", get(records::show))
        .route("/console/records/{type}/{id}/retry", post(records::retry))
        .route("/console/integrations", get(integrations::list))
        .route("/console/integrations/{id}", get(integrations::show))
        .route("/console/integrations/{id}/overviews", post(integrations::run_overview))
        .route("/console/integrations/{id}/sync-runs", post(integrations::sync_now))
        .route("/console/overviews/{id}", get(operations::overview))
        .route("/console/sync-runs/{id}", get(operations::sync_run))
        .route("/console/notifications", get(notifications::list))
        .route("/console/notifications/{id}", get(notifications::open))
        .route("/console/settings", get(settings::show).post(settings::save))
        .route("/console/{*rest}", get(nothing_here).post(nothing_here))
        .layer(middleware::from_fn(pages_for_errors))
        .layer(middleware::from_fn(session::csrf_guard))
        .layer(middleware::from_fn_with_state(state, security::headers))
}

/// `GET /console`: the records of the tenant's first record type.
async fn home(State(state): State<AppState>, admin: ConsoleAdmin) -> Result<Response, PageError> {
    let record_type = records::default_record_type(&state, admin.tenant_id).await?;
    Ok((StatusCode::SEE_OTHER, [(LOCATION, format!("/console/records/{record_type}"))]).into_response())
}

/// Any other path under `/console`.
async fn nothing_here() -> PageError {
    PageError::not_found("There is no console page here.")
}

/// Makes an error that axum answered in plain text (a path segment that is
/// not a number, a form it cannot read, a method a route does not allow)
/// a page that says so. Event streams and pages pass unchanged.
async fn pages_for_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_html = response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "There is no console page here.",
        StatusCode::METHOD_NOT_ALLOWED => "This page cannot be used that way.",
        StatusCode::PAYLOAD_TOO_LARGE => "The form is larger than the console accepts.",
        _ => "The request could not be read: a number in its address or a field of its form is not valid.",
    };
    let title = status.canonical_reason().unwrap_or("Error");
    message_page(status, title, detail)
}
