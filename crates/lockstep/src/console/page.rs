//! What every console page shares: the header (navigation, the
//! notification bell, signing out) and its data ([`Chrome`]), rendering a
//! template into a response, and the error pages ([`PageError`]).
//!
//! Errors are pages, never problem documents: the console is read by
//! people. A store that does not answer is a 503 page; a bug a 500 page
//! whose cause is logged, never shown.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use lockstep_store::StoreError;

use super::assets;
use super::session::ConsoleAdmin;
use crate::http::problem::ApiError;
use crate::http::AppState;

/// The section of the console a page belongs to, for the navigation:
/// `records`, `integrations`, `notifications` or `settings`.
pub type Section = &'static str;

/// The header of a signed-in page, and what its live connection watches.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The `<title>`, before " — Lockstep".
    pub title: String,
    pub section: Section,
    pub admin_name: String,
    pub csrf: String,
    /// The htmx `hx-headers` attribute value carrying the CSRF token.
    pub hx_headers: String,
    pub unseen: i64,
    /// The Server-Sent Events URL of this page (`/console/live?…`).
    pub live_url: String,
    pub css_url: String,
    pub js_url: String,
    pub htmx_url: String,
    pub sse_url: String,
    /// The record type the "Records" link opens.
    pub records_type: String,
}

impl Chrome {
    /// The header of a page titled `title`, in `section`, for `admin`.
    pub async fn new(
        state: &AppState,
        admin: &ConsoleAdmin,
        title: impl Into<String>,
        section: Section,
        live_query: &str,
    ) -> Result<Chrome, PageError> {
        let unseen = state.engine.store().unseen_notifications(admin.tenant_id, admin.admin_id).await?;
        let records_type = super::records::default_record_type(state, admin.tenant_id).await?;
        let live_url =
            if live_query.is_empty() { "/console/live".to_owned() } else { format!("/console/live?{live_query}") };
        Ok(Chrome {
            title: title.into(),
            section,
            admin_name: admin.admin.name.clone(),
            csrf: admin.csrf.clone(),
            hx_headers: serde_json::json!({ "X-CSRF-Token": admin.csrf }).to_string(),
            unseen,
            live_url,
            css_url: assets::url("console.css"),
            js_url: assets::url("console.js"),
            htmx_url: assets::url("htmx.min.js"),
            sse_url: assets::url("htmx-ext-sse.min.js"),
            records_type,
        })
    }

    /// The navigation's label of the records section.
    pub fn records_label(&self) -> String {
        super::words::records_label(&self.records_type)
    }
}

/// A whole-number query parameter (an id or a list position); absent or
/// empty is `None`, anything else not a number a 400 page naming it.
pub fn number_param(params: &std::collections::BTreeMap<String, String>, key: &str) -> Result<Option<i64>, PageError> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<i64>().map_err(|_| PageError::bad_request(format!("`{key}` must be a whole number"))))
        .transpose()
}

/// Renders a template as a page.
pub fn render(template: &impl Template) -> Result<Response, PageError> {
    let html = template.render().map_err(|e| PageError::internal(format!("a console template failed: {e}")))?;
    Ok(Html(html).into_response())
}

/// A page with a title and a sentence, outside a session: sign-in
/// failures, signing out, and every error.
#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    detail: &'a str,
    css_url: String,
}

/// The response of a [`MessagePage`].
pub fn message_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let page = MessagePage { title, detail, css_url: assets::url("console.css") };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, title.to_owned()).into_response(),
    }
}

/// A console request that cannot be answered with its page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl PageError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, title: "Not found", detail: detail.into() }
    }

    pub fn not_signed_in(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, title: "Not signed in", detail: detail.into() }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, title: "Request refused", detail: detail.into() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, title: "Bad request", detail: detail.into() }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, title: "Cannot do that", detail: detail.into() }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::CONFLICT, title: "Cannot do that now", detail: detail.into() }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        tracing::error!(%cause, "a console page failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            detail: "Lockstep could not show this page. The cause is in the server's log.".into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(detail) => PageError::not_found(detail),
            ApiError::Conflict(detail) | ApiError::PreconditionFailed(detail) => PageError::conflict(detail),
            ApiError::Invalid { detail, .. } => PageError::invalid(detail),
            ApiError::BadRequest(detail) | ApiError::BadParameter { detail, .. } => PageError::bad_request(detail),
            ApiError::Forbidden(detail) => PageError::forbidden(detail),
            ApiError::Unauthorized { detail, .. } => PageError::not_signed_in(detail),
            ApiError::PayloadTooLarge(detail) | ApiError::UnsupportedMediaType(detail) => {
                PageError::bad_request(detail)
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "a console page found the store unavailable");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    title: "Unavailable",
                    detail: "Lockstep's database is not answering. Try again in a moment.".into(),
                }
            }
            ApiError::Internal(cause) => PageError::internal(cause),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        PageError::from(ApiError::from(error))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        message_page(self.status, self.title, &self.detail)
    }
}
