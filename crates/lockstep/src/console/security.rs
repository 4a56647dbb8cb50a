//! The headers every console answer carries, and the origins that may frame
//! the console.
//!
//! - **Content-Security-Policy**: scripts, styles, images and connections
//!   from this server only (no inline script or style anywhere, so an
//!   injected `<script>` in a record's field could not run even if escaping
//!   failed); forms post only here; `frame-ancestors` lists
//!   `console.frame_ancestors`, or `'none'`, so a page of another origin
//!   frames the console only where the platform allowed it.
//! - `Cache-Control: no-store` on pages: they show one tenant's data.
//! - `Referrer-Policy: no-referrer`: a sign-in URL holds its secret.
//! - `X-Content-Type-Options: nosniff`.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::http::AppState;

/// Checks one `console.frame_ancestors` entry: an `http` or `https` origin
/// (scheme, host and optional port; no path), or a CSP host source such as
/// `https://*.example.com`. Anything that could end the directive or add
/// another (`;`, `,`, spaces, quotes) is refused.
pub fn check_frame_ancestor(origin: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("must be an origin such as https://app.example.com");
    };
    if !matches!(scheme, "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if rest.is_empty() || rest.contains('/') {
        return Err("must be an origin: scheme, host and optional port, no path");
    }
    let host_ok = rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']'));
    if !host_ok {
        return Err("holds a character an origin cannot");
    }
    Ok(())
}

/// The console's Content-Security-Policy.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let ancestors = if frame_ancestors.is_empty() { "'none'".to_owned() } else { frame_ancestors.join(" ") };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// Adds the console's headers to every answer under `/console`.
pub async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with(super::assets::ASSET_PATH);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let policy = content_security_policy(&state.config.console.frame_ancestors);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !is_asset {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_accepted_and_directives_are_not() {
        assert!(check_frame_ancestor("https://app.example.com").is_ok());
        assert!(check_frame_ancestor("http://127.0.0.1:8080").is_ok());
        assert!(check_frame_ancestor("https://*.example.com").is_ok());
        assert!(check_frame_ancestor("app.example.com").is_err());
        assert!(check_frame_ancestor("https://a.com/path").is_err());
        assert!(check_frame_ancestor("https://a.com; script-src *").is_err());
        assert!(check_frame_ancestor("javascript://x").is_err());
    }

    #[test]
    fn no_listed_origin_means_no_framing() {
        assert!(content_security_policy(&[]).ends_with("frame-ancestors 'none'"));
        let two = content_security_policy(&["https://a.com".into(), "https://b.com".into()]);
        assert!(two.ends_with("frame-ancestors https://a.com https://b.com"));
    }
}
