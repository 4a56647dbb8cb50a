//! `POST /v1/console/sessions`: a one-time link that signs an admin in to
//! the console, asked for by the platform's backend with that admin's
//! token (the Svix App Portal model). The platform sends the admin's
//! browser to `url` (or frames it, from an origin listed in
//! `console.frame_ancestors`). The link works once, until `expires_at`;
//! the session it opens reaches exactly what the token reaches, and ends
//! when the token is revoked or expires. See [`crate::console::session`].

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::AuthAdmin;
use super::problem::{ApiError, Problem};
use crate::console::session::create_link;
use crate::http::AppState;

/// A sign-in link for the console.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleLink {
    /// Open it in the admin's browser: it signs in once and becomes a
    /// session cookie. It holds a secret: do not log it.
    pub url: String,
    /// The link stops working then, if unused (`console.link_seconds`).
    pub expires_at: DateTime<Utc>,
}

/// Makes a one-time console sign-in link for the caller.
#[utoipa::path(post, path = "/v1/console/sessions", tag = "console", security(("bearer" = [])),
    responses(
        (status = 201, description = "The link, usable once until `expires_at`", body = ConsoleLink),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn create_console_session(
    State(state): State<AppState>,
    caller: AuthAdmin,
) -> Result<(StatusCode, axum::Json<ConsoleLink>), ApiError> {
    let link = create_link(&state, &caller).await?;
    Ok((StatusCode::CREATED, axum::Json(ConsoleLink { url: link.url, expires_at: link.expires_at })))
}
