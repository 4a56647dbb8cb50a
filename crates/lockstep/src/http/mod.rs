//! The HTTP server: the versioned JSON API under `/v1`, health, metrics,
//! the OpenAPI document, the page a notification email's link opens
//! ([`links`], HTML, outside the API), and the admin console's routes
//! (`/console`, see [`crate::console`]).
//!
//! One file per resource ([`tenants`], [`admins`], [`tokens`],
//! [`integrations`], [`records`], [`overviews`], [`sync_runs`],
//! [`notifications`], [`settings`], [`console_sessions`]); [`cursor`] the cursors of the lists
//! that page by a store sequence; [`extract`] and [`problem`] hold what
//! every handler shares: extractors that reject bad input as RFC 9457
//! problem documents (and authenticate callers, with
//! [`tokens::bearer`]), and the error type that renders them; [`input`] the
//! rules for the text clients send (and their patterns for the OpenAPI
//! document), [`integration_input`] the bodies of integrations. This file
//! is the route table and the middleware every request passes:
//!
//! - the body limit (`body_limit_bytes`), enforced by the body extractors
//!   and answered with a 413 problem;
//! - [`problem::finish`], which makes every error response a problem
//!   document with its `instance`;
//! - request metrics, labelled by the matched route template (never the raw
//!   path, which would make one time series per record id).

pub mod admins;
pub mod console_sessions;
pub mod cursor;
pub mod extract;
pub mod health;
pub mod input;
pub mod integration_input;
pub mod integrations;
pub mod links;
pub mod merge_patch;
pub mod notifications;
pub mod openapi;
pub mod overviews;
pub mod problem;
pub mod records;
pub mod settings;
pub mod sync_runs;
pub mod tenants;
pub mod tokens;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use records::{batch, read, write};

use crate::config::Config;
use crate::engine::Engine;

/// What every request handler shares: the engine it calls and the
/// configuration. Cheap to clone. Nothing about callers is held here: a
/// bearer token is looked up in the store on every request (see
/// [`tokens::bearer`]).
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(engine: Engine, config: Arc<Config>) -> AppState {
        AppState { engine, config }
    }
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    let routes = Router::new()
        .route("/v1/tenants", post(tenants::create_tenant))
        .route("/v1/admins", post(admins::create_admin).get(admins::list_admins))
        .route("/v1/me", get(admins::me))
        .route("/v1/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/v1/tokens/{id}", get(tokens::get_token))
        .route("/v1/tokens/{id}/revoke", post(tokens::revoke_token))
        .route("/v1/integrations", post(integrations::create_integration).get(integrations::list_integrations))
        .route(
            "/v1/integrations/{id}",
            get(integrations::get_integration)
                .patch(integrations::patch_integration)
                .delete(integrations::delete_integration),
        )
        .route("/v1/integrations/{id}/overviews", post(overviews::create_overview))
        .route("/v1/integrations/{id}/sync-runs", post(sync_runs::create_sync_run).get(sync_runs::list_sync_runs))
        .route("/v1/overviews/{id}", get(overviews::get_overview))
        .route("/v1/overviews/{id}/changes", get(overviews::list_changes))
        .route("/v1/sync-runs/{id}", get(sync_runs::get_sync_run))
        .route("/v1/sync-runs/{id}/log", get(sync_runs::list_log))
        .route("/v1/notifications", get(notifications::list_notifications))
        .route("/v1/notifications/seen", post(notifications::mark_all_seen))
        .route("/v1/notifications/{id}/seen", post(notifications::mark_seen))
        .route("/v1/notifications/{id}/read", post(notifications::mark_read))
        .route("/v1/settings", get(settings::get_settings).patch(settings::patch_settings))
        .route("/v1/console/sessions", post(console_sessions::create_console_session))
        .route("/v1/records/{type}", get(read::list_records))
        .route(
            "/v1/records/{type}/{id}",
            get(read::get_record).put(write::put_record).patch(write::patch_record).delete(write::delete_record),
        )
        // The static segment wins over `{id}`; the record methods are
        // repeated so a record whose id is `batch` stays reachable.
        .route(
            "/v1/records/{type}/batch",
            post(batch::write_batch)
                .get(read::get_record)
                .put(write::put_record)
                .patch(write::patch_record)
                .delete(write::delete_record),
        )
        .route("/v1/records/{type}/{id}/retry", post(write::retry_record))
        .route("/links/notifications/{id}", get(links::notification_page))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(crate::console::router(state.clone()))
        .fallback(problem::not_found)
        // `Router::layer` wraps each route after routing, so `MatchedPath`
        // is known to the metrics middleware.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), track_request))
        .with_state(state);
    // `finish` wraps the whole router rather than each route: axum adds the
    // `Allow` header of a 405 outside the route, and the problem names it.
    Router::new().fallback_service(routes).layer(middleware::from_fn(problem::finish))
}

/// Counts each request by method, route template and status.
async fn track_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Only standard methods become labels: a client inventing methods must
    // not be able to grow the metric without bound.
    let method = match *request.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            request.method().as_str().to_owned()
        }
        _ => "other".to_owned(),
    };
    let response = next.run(request).await;
    state.engine.metrics().http_request(&method, &route, response.status().as_u16());
    response
}
