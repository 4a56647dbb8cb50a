//! The console's static files, compiled into the binary: htmx and its
//! Server-Sent Events extension (vendored from npm, with their licences in
//! `assets/vendor/`), and the console's own stylesheet and script. Nothing
//! is read from disk at run time and no Node toolchain is needed to build.
//!
//! Each file is served at `/console/assets/{name}`; pages link it with
//! `?v={first hex digits of its SHA-256}`, so a new binary's files are
//! fetched anew while an unchanged file stays cached for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Where the assets are served.
pub const ASSET_PATH: &str = "/console/assets/";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "htmx-ext-sse.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/htmx-ext-sse-2.2.4.min.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/console.js"),
    },
];

/// Each asset's versioned URL, by name.
static URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| (a.name, format!("{ASSET_PATH}{}?v={}", a.name, &hex::encode(Sha256::digest(a.body))[..12])))
        .collect()
});

/// The URL a page links an asset with.
pub fn url(name: &str) -> String {
    URLS.iter().find(|(n, _)| *n == name).map(|(_, url)| url.clone()).unwrap_or_default()
}

/// `GET /console/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        asset.body,
    )
        .into_response()
}
