//! Signing in to the console: one-time links, the session cookie, and the
//! guard against cross-site requests.
//!
//! **The link.** A platform's backend asks for a link for one admin with
//! that admin's token (`POST /v1/console/sessions`) and sends the admin's
//! browser to it. The link holds a 256-bit secret; the store keeps its
//! SHA-256 only. Following it is one atomic step in the store, so it signs
//! in once, however many browsers race with it, and only until
//! `console.link_seconds` after it was made.
//!
//! **The session.** Following the link sets the cookie `lockstep_console`
//! to a second secret (its hash stored on the same row): `HttpOnly` (no
//! script reads it), `SameSite=Lax` (another site's page cannot post with
//! it), `Path=/console`, `Secure` when `public_url` is https. Every request
//! looks the session up, as a bearer token is on every API request, and
//! refuses it once signed out, past `console.session_seconds`, or when the
//! token that asked for the link is revoked or expired: a session reaches
//! exactly what that token reaches, and no longer.
//!
//! **Cross-site requests.** Every request that changes something must carry
//! the session's CSRF token, in the form field `_csrf` or the header
//! `X-CSRF-Token` (htmx sends it from the page's `hx-headers`), or it is
//! refused with a 403 page before any handler runs. The token is the
//! SHA-256 of a label and the cookie's secret: only a page this server
//! rendered for this session holds it, nothing needs storing, and the
//! store's hash of the cookie does not give it away. `SameSite=Lax` alone
//! is not enough: a page on another port of the same host is same-site.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use lockstep_store::{Admin, ConsoleOwner, LinkRedemption, NewConsoleSession};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::page::{message_page, PageError};
use crate::http::extract::AuthAdmin;
use crate::http::problem::ApiError;
use crate::http::tokens::bearer::{constant_time_eq, hash, TokenStatus};
use crate::http::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "lockstep_console";
/// Where a sign-in link leads, below `public_url`.
pub const SIGN_IN_PATH: &str = "/console/sign-in";
/// The form field and the header a change carries its CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";
const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form the CSRF guard reads; console forms are a few fields.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A new random secret: 32 bytes, unpadded base64url.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token of the session whose cookie holds `secret`.
fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("lockstep console csrf\0{secret}").as_bytes()))
}

/// A link made for an admin.
pub struct SignInLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Makes a one-time sign-in link for the caller's admin, living by the
/// caller's token.
pub async fn create_link(state: &AppState, caller: &AuthAdmin) -> Result<SignInLink, ApiError> {
    let now = state.engine.clock().now();
    let secret = new_secret();
    let expires_at = now + Duration::seconds(state.config.console.link_seconds as i64);
    let link = NewConsoleSession {
        admin_id: caller.admin_id,
        token_id: caller.token_id,
        link_hash: hash(&secret),
        link_expires_at: expires_at,
    };
    state
        .engine
        .store()
        .create_console_session(caller.tenant_id, link, now)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's admin or token went missing".into()))?;
    let url = format!("{}{SIGN_IN_PATH}?link={secret}", state.config.public_url.trim_end_matches('/'));
    Ok(SignInLink { url, expires_at })
}

/// `GET /console/sign-in?link=…`: follows a link once, sets the cookie and
/// goes to the console; otherwise a page that says what is wrong, and no
/// cookie.
pub async fn sign_in(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let link = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "link").map(|(_, v)| v.into_owned())
    });
    let Some(link) = link.filter(|l| !l.is_empty() && l.len() <= 256) else {
        return link_refused(
            StatusCode::NOT_FOUND,
            "Sign-in link not valid",
            "This is not a sign-in link Lockstep made.",
        );
    };
    let now = state.engine.clock().now();
    let secret = new_secret();
    let expires_at = now + Duration::seconds(state.config.console.session_seconds as i64);
    let redeemed = state.engine.store().redeem_console_link(&hash(&link), &hash(&secret), expires_at, now).await;
    match redeemed {
        Ok(LinkRedemption::SignedIn(_)) => {}
        Ok(LinkRedemption::Used) => {
            return link_refused(
                StatusCode::GONE,
                "Sign-in link already used",
                "A sign-in link works once. Open the console again from your platform to get a new one.",
            )
        }
        Ok(LinkRedemption::Expired) => {
            return link_refused(
                StatusCode::GONE,
                "Sign-in link expired",
                "This sign-in link was not opened in time. Open the console again from your platform to get a new one.",
            )
        }
        Ok(LinkRedemption::Unknown) => {
            return link_refused(
                StatusCode::NOT_FOUND,
                "Sign-in link not valid",
                "This is not a sign-in link Lockstep made.",
            )
        }
        Err(error) => return PageError::from(ApiError::from(error)).into_response(),
    }
    // The token may have been revoked between asking for the link and
    // following it: the session would be refused on its first request, so
    // say so now instead of setting a cookie that does not work.
    match session_for(&state, &secret).await {
        Ok(_) => {}
        Err(error) => return error.into_response(),
    }
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, HeaderValue::from_static("/console"));
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie(&state, &secret)) {
        headers.insert(SET_COOKIE, cookie);
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}

/// The page of a link that did not sign in.
fn link_refused(status: StatusCode, title: &str, detail: &str) -> Response {
    message_page(status, title, detail)
}

/// The `Set-Cookie` value of a new session.
fn session_cookie(state: &AppState, secret: &str) -> String {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={secret}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        state.config.console.session_seconds
    )
}

/// The `Set-Cookie` value that removes the session cookie.
fn cleared_cookie() -> &'static str {
    "lockstep_console=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0"
}

/// `POST /console/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, admin: ConsoleAdmin) -> Response {
    let now = state.engine.clock().now();
    if let Err(error) = state.engine.store().end_console_session(admin.tenant_id, admin.session_id, now).await {
        return PageError::from(ApiError::from(error)).into_response();
    }
    let mut response = message_page(StatusCode::OK, "Signed out", "You have signed out of the Lockstep console.");
    response.headers_mut().insert(SET_COOKIE, HeaderValue::from_static(cleared_cookie()));
    response
}

/// The admin a console request is made by: the session's admin, judged on
/// every request.
#[derive(Debug, Clone)]
pub struct ConsoleAdmin {
    pub tenant_id: i64,
    pub admin_id: i64,
    pub admin: Admin,
    pub session_id: i64,
    /// The hash of the session's cookie, to judge the session again later
    /// (a live page's connection does, as it goes on).
    pub session_hash: String,
    /// What the session's pages put in their forms and htmx headers.
    pub csrf: String,
}

/// The session cookie's secret in a request, if any.
fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The session whose cookie holds `secret`, if it may still be used.
async fn session_for(state: &AppState, secret: &str) -> Result<ConsoleAdmin, PageError> {
    session_by_hash(state, &hash(secret), csrf_token(secret)).await
}

/// The session whose cookie hashes to `session_hash`, if it may still be
/// used: not signed out, not expired, its token neither revoked nor expired.
pub async fn session_by_hash(state: &AppState, session_hash: &str, csrf: String) -> Result<ConsoleAdmin, PageError> {
    let found = state.engine.store().console_session_by_hash(session_hash).await.map_err(ApiError::from)?;
    let Some(ConsoleOwner { session, token, admin }) = found else {
        return Err(PageError::not_signed_in("Your browser holds no Lockstep console session."));
    };
    let now = state.engine.clock().now();
    if session.ended_at.is_some() {
        return Err(PageError::not_signed_in("You signed out of this session."));
    }
    if session.expires_at.is_none_or(|at| at <= now) {
        return Err(PageError::not_signed_in("Your console session has expired."));
    }
    match TokenStatus::at(&token, now) {
        TokenStatus::Active => {}
        TokenStatus::Revoked | TokenStatus::Expired => {
            return Err(PageError::not_signed_in("The access this session was opened with has been withdrawn."))
        }
    }
    Ok(ConsoleAdmin {
        tenant_id: session.tenant_id,
        admin_id: admin.id,
        admin,
        session_id: session.id,
        session_hash: session_hash.to_owned(),
        csrf,
    })
}

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(PageError::not_signed_in("Open the console from your platform to sign in."));
        };
        session_for(state, &secret).await
    }
}

/// Refuses a console request that changes something without the session's
/// CSRF token (403), before any handler runs. Safe methods pass.
pub async fn csrf_guard(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return PageError::bad_request("The form is larger than the console accepts.").into_response();
    };
    let expected = cookie_secret(&parts.headers).map(|secret| csrf_token(&secret));
    let sent =
        parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
            url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned())
        });
    let allowed = matches!((&expected, &sent), (Some(expected), Some(sent)) if constant_time_eq(expected, sent));
    if !allowed {
        return PageError::forbidden(
            "This request did not come from a Lockstep console page (its form token is missing or wrong). \
             Reload the page and try again.",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; lockstep_console=s3cret; b=2"));
        assert_eq!(cookie_secret(&headers).as_deref(), Some("s3cret"));
        headers.insert(COOKIE, HeaderValue::from_static("lockstep_console="));
        assert_eq!(cookie_secret(&headers), None);
    }

    #[test]
    fn the_csrf_token_depends_on_the_secret_not_on_its_stored_hash() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), hash("a"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
    }
}
