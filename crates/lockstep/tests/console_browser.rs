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

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::browser::run_scenario;
use support::lockstep_bin::ServeProcess;
use support::proxy::FaultProxy;
use support::{free_port, ScimServer};

/// Live pages poll what they show every 0.2 s, so a status that lasts a
/// second or more is seen by the browser.
const LIVE_POLL: (&str, &str) = ("LOCKSTEP_CONSOLE__LIVE_POLL_SECONDS", "0.2");

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

/// Connects "Directory" (SCIM at `base_url`, the peer's `bearer_token`):
/// email to `userName` (unique in `scim2-server`), first name to
/// `name.givenName`, with `grace_period_seconds`. Answers its id.
async fn directory(serve: &ServeProcess, token: &str, base_url: &str, bearer_token: &str, grace: f64) -> i64 {
    let integration = json!({
        "name": "Directory",
        "connector": {"kind": "scim", "base_url": base_url, "bearer_token": bearer_token},
        "field_mapping": {"email": "userName", "first_name": "name.givenName"},
        "grace_period_seconds": grace,
    });
    let made = serve.call(token, Method::POST, "/v1/integrations", Some(integration)).await;
    made["id"].as_i64().unwrap_or_else(|| panic!("no id in {made}"))
}

/// `PUT /v1/records/employee/{id}` with an email `{id}@acme.test`.
async fn put_employee(serve: &ServeProcess, token: &str, id: &str, first_name: &str) {
    let fields = json!({"email": format!("{id}@acme.test"), "first_name": first_name, "last_name": "Example"});
    serve.call(token, Method::PUT, &format!("/v1/records/employee/{id}"), Some(fields)).await;
}

/// Waits (at most 30 s) until employee `id`'s one sync state is `status`.
async fn wait_for_sync(serve: &ServeProcess, token: &str, id: &str, status: &str) {
    let started = Instant::now();
    loop {
        let record = serve.call(token, Method::GET, &format!("/v1/records/employee/{id}"), None).await;
        let now = &record["sync"]["integrations"][0]["status"];
        if now == status {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{id} is not {status} after 30 s: {record}");
        // The worker of `lockstep serve` syncs on its own; poll its answer.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a scenario off the runtime's worker threads, so in-process peers
/// (the fault proxy) keep answering while the browser drives the console.
fn run_blocking(name: &str, env: &[(&str, String)]) {
    tokio::task::block_in_place(|| run_scenario(name, env));
}

/// The inputs every console scenario gets: where the console is, a fresh
/// sign-in link, the admin's API token and the integration's id.
async fn scenario_inputs(serve: &ServeProcess, token: &str, integration: i64) -> Vec<(&'static str, String)> {
    vec![
        ("LOCKSTEP_BASE_URL", serve.base_url.clone()),
        ("LOCKSTEP_SIGN_IN_URL", sign_in_link(serve, token).await),
        ("LOCKSTEP_ADMIN_TOKEN", token.to_owned()),
        ("LOCKSTEP_INTEGRATION_ID", integration.to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_page_follows_its_sync_live_and_retries_a_failure() {
    let scim = ScimServer::start().await;
    // A slow hop in front of the peer: each request waits 1.5 s, so a push
    // stays "Syncing" for seconds, well over the live page's 0.2 s poll.
    let slow = FaultProxy::start(&scim.base_url).await;
    slow.slow_down(Duration::from_millis(1500));
    let dir = tempfile::tempdir().unwrap();
    let (serve, token) = serve_with_tenant(&dir, &[LIVE_POLL]).await;
    let integration = directory(&serve, &token, &slow.base_url, &scim.token, 2.0).await;
    put_employee(&serve, &token, "e-1", "Ada").await;
    put_employee(&serve, &token, "e-2", "Brian").await;
    wait_for_sync(&serve, &token, "e-1", "synced").await;
    wait_for_sync(&serve, &token, "e-2", "synced").await;

    let inputs = scenario_inputs(&serve, &token, integration).await;
    run_blocking("record_live", &inputs);
    assert_eq!(scim.users_with_external_id("e-2").await.len(), 1, "e-2 reached the third party once");
}

/// A tenant whose "Directory" holds e-1 and e-2 (synced), with e-2 renamed
/// and e-3 new since: a Sync Overview has one Update and one Create. The
/// grace period is then an hour, so only the console's operations sync.
/// Lockstep reaches the peer at `third_party` (the peer, or a proxy before it).
async fn directory_with_changes(
    dir: &tempfile::TempDir,
    scim: &ScimServer,
    third_party: &str,
    background_after_seconds: u32,
) -> (ServeProcess, String, i64) {
    let (serve, token) = serve_with_tenant(dir, &[LIVE_POLL]).await;
    let settings = json!({"background_after_seconds": background_after_seconds});
    serve.call(&token, Method::PATCH, "/v1/settings", Some(settings)).await;
    let integration = directory(&serve, &token, third_party, &scim.token, 0.2).await;
    put_employee(&serve, &token, "e-1", "Ada").await;
    put_employee(&serve, &token, "e-2", "Brian").await;
    wait_for_sync(&serve, &token, "e-1", "synced").await;
    wait_for_sync(&serve, &token, "e-2", "synced").await;
    let later = json!({"grace_period_seconds": 3600, "max_wait_seconds": 3600});
    serve.call(&token, Method::PATCH, &format!("/v1/integrations/{integration}"), Some(later)).await;
    let renamed = json!({"first_name": "Bryan"});
    serve.call(&token, Method::PATCH, "/v1/records/employee/e-2", Some(renamed)).await;
    put_employee(&serve, &token, "e-3", "Cleo").await;
    wait_for_sync(&serve, &token, "e-2", "sync_pending").await;
    (serve, token, integration)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overview_shows_its_changes_until_another_admin_runs_one() {
    let scim = ScimServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // 60 s: the overview finishes within the request, no modal.
    let (serve, token, integration) = directory_with_changes(&dir, &scim, &scim.base_url, 60).await;

    let inputs = scenario_inputs(&serve, &token, integration).await;
    run_blocking("overview", &inputs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_goes_on_in_the_background_and_settings_are_checked() {
    let scim = ScimServer::start().await;
    // Each request to the peer waits 0.5 s, so the run is still going when
    // its page first shows (the bell at 0) and ends seconds later.
    let slow = FaultProxy::start(&scim.base_url).await;
    slow.slow_down(Duration::from_millis(500));
    let dir = tempfile::tempdir().unwrap();
    // 0 s: every operation goes to the background at once.
    let (serve, token, integration) = directory_with_changes(&dir, &scim, &slow.base_url, 0).await;

    let inputs = scenario_inputs(&serve, &token, integration).await;
    run_blocking("sync_now_and_settings", &inputs);
    let users = scim.users_with_external_id("e-3").await;
    assert_eq!(users.len(), 1, "Sync Now created e-3 in the third party: {users:?}");
}
