//! The admin console in a real browser (Chromium, driven by the scenarios in
//! `tests/browser/scenarios/`) against a real `lockstep serve` process on
//! SQLite: signing in by a one-time link, signing out, the pages a visitor
//! without a session sees, and which origins may frame the console. Every
//! page a scenario visits passes axe-core's serious and critical rules and is
//! screenshot into `target/console-screenshots/`.
//!
//! The Rust side owns the server and the tenant; the scenario owns the
//! browser. nextest runs these tests one at a time (`.config/nextest.toml`).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::browser::run_scenario;
use support::free_port;
use support::lockstep_bin::ServeProcess;

/// A `lockstep serve` on a fresh SQLite store whose public URL is itself,
/// with one tenant; answers it and the tenant admin's token.
async fn serve_with_tenant(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> (ServeProcess, String) {
    let database_url = format!("sqlite://{}", dir.path().join("lockstep.db").display());
    let serve = ServeProcess::start_public(&database_url, "127.0.0.0/8", env, &[]).await;
    let token = serve.tenant_admin("acme").await;
    (serve, token)
}

/// `POST /v1/console/sessions` as the admin: a one-time sign-in URL under
/// the public URL, with the RFC 3339 time it expires at.
async fn sign_in_link(serve: &ServeProcess, token: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/console/sessions", serve.base_url))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("lockstep serve answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "POST /v1/console/sessions: {body}");
    let url = body["url"].as_str().unwrap_or_else(|| panic!("no url in {body}")).to_owned();
    let prefix = format!("{}/console/sign-in?link=", serve.base_url);
    assert!(url.starts_with(&prefix) && url.len() > prefix.len(), "{url} is not a sign-in link under {prefix}");
    let expires_at = body["expires_at"].as_str().unwrap_or_else(|| panic!("no expires_at in {body}"));
    chrono::DateTime::parse_from_rfc3339(expires_at).unwrap_or_else(|e| panic!("expires_at {expires_at}: {e}"));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_by_link_works_once() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, token) = serve_with_tenant(&dir, &[]).await;
    let link = sign_in_link(&serve, &token).await;

    run_scenario("sign_in_once", &[("LOCKSTEP_BASE_URL", serve.base_url.clone()), ("LOCKSTEP_SIGN_IN_URL", link)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_frames_only_in_listed_origins() {
    // The embedding page's port must be listed before serve starts, so it is
    // chosen here and the scenario serves its page on it.
    let embed_port = free_port();
    let ancestors = format!("[\"http://127.0.0.1:{embed_port}\"]");
    let dir = tempfile::tempdir().unwrap();
    let (serve, token) = serve_with_tenant(&dir, &[("LOCKSTEP_CONSOLE__FRAME_ANCESTORS", &ancestors)]).await;
    let listed_link = sign_in_link(&serve, &token).await;
    let unlisted_link = sign_in_link(&serve, &token).await;

    run_scenario(
        "frame_ancestors",
        &[
            ("LOCKSTEP_BASE_URL", serve.base_url.clone()),
            ("LOCKSTEP_EMBED_PORT", embed_port.to_string()),
            ("LOCKSTEP_SIGN_IN_URL", listed_link),
            ("LOCKSTEP_SECOND_SIGN_IN_URL", unlisted_link),
        ],
    );
}
