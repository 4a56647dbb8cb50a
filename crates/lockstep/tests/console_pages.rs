//! The admin console over HTTP, on both stores, without a browser: signing
//! in by one-time link, the session's end (sign-out, expiry, a revoked
//! token), the CSRF guard, the framing policy, every page on the tenant's
//! own data against a real SCIM server (`scim2-server`), an overview's
//! "no longer valid" page, Sync Now in the background with its modal and
//! notification, and the live stream of a record's page. The clock is
//! manual and background work is run by hand; the browser scenarios are in
//! `console_browser.rs`.

mod support;

use std::time::Duration;

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::app::{TenantAdmin, TestApp};
use support::console::{link, location, ConsoleClient};
use support::{Backend, ScimServer};

async fn sign_in_links_work_once_and_in_time(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.tenant("acme").await;
    let url = link(&app, &admin.token).await;
    assert!(url.starts_with("http://") && url.contains("/console/sign-in?link="), "{url}");

    let mut browser = ConsoleClient::new(&app);
    let first = browser.open(&url).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);
    assert_eq!(location(&first), "/console");
    let cookie = first.headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    for attribute in ["lockstep_console=", "HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "an http public_url gets no Secure cookie: {cookie}");
    let home = browser.get("/console").await;
    assert_eq!(location(&home), "/console/records/employee");
    let page = browser.get("/console/records/employee").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("<title>Employees — Lockstep</title>"), "{}", page.text);

    // The same link again, in another browser: refused, no cookie.
    let mut other = ConsoleClient::new(&app);
    let again = other.open(&url).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text.contains("Sign-in link already used"), "{}", again.text);
    assert!(again.headers.get(SET_COOKIE).is_none() && other.cookie.is_none());

    let forged = other.open(&format!("{}/console/sign-in?link=forged", app.base)).await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    assert!(forged.text.contains("Sign-in link not valid"), "{}", forged.text);
    let bare = other.open(&format!("{}/console/sign-in", app.base)).await;
    assert!(bare.text.contains("Sign-in link not valid"), "{}", bare.text);

    // A link not opened within `console.link_seconds` (300 s).
    let late = link(&app, &admin.token).await;
    app.advance(301.0);
    let expired = other.open(&late).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.text.contains("Sign-in link expired"), "{}", expired.text);
    assert!(other.cookie.is_none());

    let anonymous = other.get("/console/records/employee").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.text.contains("Not signed in"), "{}", anonymous.text);
    assert!(anonymous.content_type().starts_with("text/html"), "{}", anonymous.content_type());
}
both_backends!(sign_in_links_work_once_and_in_time);

async fn a_session_ends_with_sign_out_expiry_or_its_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.tenant("acme").await;

    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    let out = browser.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    assert!(out.text.contains("Signed out"));
    assert_eq!(browser.get("/console/settings").await.status, StatusCode::UNAUTHORIZED, "signed out");

    // A session opened with a second token lives by that token.
    let made = app.post("/v1/tokens", &admin.token, json!({"label": "platform"})).await;
    let (token_id, token) = (made.body["id"].as_i64().unwrap(), made.body["token"].as_str().unwrap().to_owned());
    let browser = ConsoleClient::signed_in(&app, &token).await;
    assert_eq!(browser.get("/console/settings").await.status, StatusCode::OK);
    let revoked = app.post(&format!("/v1/tokens/{token_id}/revoke"), &admin.token, json!({})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let refused = browser.get("/console/settings").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.text.contains("withdrawn"), "{}", refused.text);

    // A link asked for by a token revoked before it is opened signs nobody in.
    let made = app.post("/v1/tokens", &admin.token, json!({})).await;
    let (token_id, token) = (made.body["id"].as_i64().unwrap(), made.body["token"].as_str().unwrap().to_owned());
    let url = link(&app, &token).await;
    app.post(&format!("/v1/tokens/{token_id}/revoke"), &admin.token, json!({})).await;
    let mut late = ConsoleClient::new(&app);
    assert_eq!(late.open(&url).await.status, StatusCode::UNAUTHORIZED);
    assert!(late.cookie.is_none());

    // Twelve hours after signing in.
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    app.advance(12.0 * 3600.0 - 1.0);
    assert_eq!(browser.get("/console/settings").await.status, StatusCode::OK);
    app.advance(2.0);
    assert_eq!(browser.get("/console/settings").await.status, StatusCode::UNAUTHORIZED);
}
both_backends!(a_session_ends_with_sign_out_expiry_or_its_token);

async fn changes_need_the_pages_csrf_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let admin = app.tenant("acme").await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    let change = [("channel", "in_app"), ("email_delay_seconds", "5")];
    let before = app.get("/v1/settings", &admin.token).await.body;

    let missing = browser.send(Method::POST, "/console/settings", Some(&change)).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.text);
    assert!(missing.text.contains("Request refused"), "{}", missing.text);
    let mut wrong = vec![("_csrf", "0000")];
    wrong.extend_from_slice(&change);
    assert_eq!(browser.send(Method::POST, "/console/settings", Some(&wrong)).await.status, StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let other = ConsoleClient::signed_in(&app, &admin.token).await;
    let theirs = other.csrf("/console/settings").await;
    let mut borrowed = vec![("_csrf", theirs.as_str())];
    borrowed.extend_from_slice(&change);
    assert_eq!(browser.send(Method::POST, "/console/settings", Some(&borrowed)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/settings", &admin.token).await.body, before, "nothing was saved");

    let saved = browser.post("/console/settings", &change).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert!(saved.text.contains("Settings saved."));
    let settings = app.get("/v1/settings", &admin.token).await.body;
    assert_eq!(settings["email_delay_seconds"], 5);
    assert_eq!(settings["notification_channels"], json!(["in_app"]));

    // Out of range: the field says so, and nothing is saved.
    let refused = browser
        .post(
            "/console/settings",
            &[("channel", "email"), ("overview_validity_seconds", "5"), ("email_delay_seconds", "9")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
    assert!(refused.text.contains("Sync Overview validity must be between 60 and 7776000"), "{}", refused.text);
    assert!(refused.text.contains("aria-invalid=\"true\""));
    assert_eq!(app.get("/v1/settings", &admin.token).await.body["email_delay_seconds"], 5);
    let not_a_number = browser.post("/console/settings", &[("email_delay_seconds", "soon")]).await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_a_number.text.contains("must be a whole number"), "{}", not_a_number.text);
}
both_backends!(changes_need_the_pages_csrf_token);

#[tokio::test]
async fn the_console_is_framed_only_by_listed_origins() {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.tenant("acme").await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    let page = browser.get("/console/settings").await;
    let policy = page.headers.get(CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(page.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));

    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.console.frame_ancestors = vec!["https://app.example.com".into(), "http://127.0.0.1:9999".into()];
    })
    .await;
    let admin = app.tenant("acme").await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    let page = browser.get("/console/settings").await;
    let policy = page.headers.get(CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(policy.ends_with("frame-ancestors https://app.example.com http://127.0.0.1:9999"), "{policy}");
}

/// A tenant with a Directory on a real SCIM server, two eligible employees
/// and one that is not, every operation going to the background at once.
async fn directory(backend: Backend) -> (TestApp, ScimServer, TenantAdmin, i64) {
    let scim = ScimServer::start().await;
    let app = TestApp::start_with(backend, |c| c.console.live_poll_seconds = 0.05).await;
    let admin = app.tenant("acme").await;
    app.patch("/v1/settings", &admin.token, json!({"background_after_seconds": 0})).await;
    let directory = app
        .integration(
            &admin.token,
            json!({
                "name": "Directory",
                "connector": {"kind": "scim", "base_url": scim.base_url, "bearer_token": scim.token},
                "field_mapping": {"email": "userName", "first_name": "name.givenName"},
                "eligibility": [{"field": "status", "op": "eq", "value": "active"}],
                "grace_period_seconds": 60,
            }),
        )
        .await;
    for (id, name, status) in [("e-1", "Ada", "active"), ("e-2", "Brian", "active"), ("e-3", "Cleo", "left")] {
        app.put_employee(
            &admin.token,
            id,
            json!({"email": format!("{id}@acme.test"), "first_name": name, "last_name": "Example", "status": status}),
        )
        .await;
    }
    (app, scim, admin, directory)
}

async fn pages_show_records_integrations_and_their_statuses(backend: Backend) {
    let (app, _scim, admin, directory) = directory(backend).await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;

    let list = browser.get("/console/records/employee").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    for text in ["e-1", "Ada Example", "Sync pending", "e-3"] {
        assert!(list.text.contains(text), "{text} missing: {}", list.text);
    }
    let found = browser.get("/console/records/employee?q=BRIAN").await;
    assert!(found.text.contains("e-2") && !found.text.contains("e-1"), "{}", found.text);
    let none = browser.get("/console/records/employee?q=nobody").await;
    assert!(none.text.contains("No employee record matches"), "{}", none.text);

    let page = browser.get("/console/records/employee/e-1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for text in ["Sync pending", "Directory", "data-countdown", "Synced to Directory", "Attempts"] {
        assert!(page.text.contains(text), "{text} missing: {}", page.text);
    }
    // `last_name` is not mapped: one icon per synced field (email, first_name).
    assert_eq!(page.text.matches("Synced to Directory</span>").count(), 2, "{}", page.text);

    // Both sync; then e-2 takes e-1's email, which the third party refuses
    // (userName is unique there): the error and Retry show.
    app.advance(61.0);
    app.drain().await;
    assert!(browser.get("/console/records/employee/e-1").await.text.contains("Synced"));
    app.put_employee(&admin.token, "e-2", json!({"email": "e-1@acme.test", "first_name": "Brian", "status": "active"}))
        .await;
    app.advance(61.0);
    app.drain().await;
    let failed = browser.get("/console/records/employee/e-2").await;
    assert!(failed.text.contains("Sync failed"), "{}", failed.text);
    assert!(failed.text.contains(">Retry</button>"), "{}", failed.text);
    let retried =
        browser.post("/console/records/employee/e-2/retry", &[("integration_id", &directory.to_string())]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.text);
    assert!(browser.get("/console/records/employee/e-2").await.text.contains("Sync pending"));
    let nothing = browser.post("/console/records/employee/e-1/retry", &[]).await;
    assert_eq!(nothing.status, StatusCode::CONFLICT, "e-1 has no failed sync: {}", nothing.text);

    let integrations = browser.get("/console/integrations").await;
    assert!(
        integrations.text.contains("Directory") && integrations.text.contains("Sync pending"),
        "{}",
        integrations.text
    );
    let integration = browser.get(&format!("/console/integrations/{directory}")).await;
    for text in
        ["first_name", "name.givenName", "status is &#34;active&#34;", "60 seconds", "Run Sync Overview", "Sync Now"]
    {
        assert!(integration.text.contains(text), "{text} missing: {}", integration.text);
    }

    for missing in ["/console/records/employee/nobody", "/console/integrations/999999", "/console/overviews/999999"] {
        let answer = browser.get(missing).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{missing}: {}", answer.text);
        assert!(answer.content_type().starts_with("text/html"));
    }
    let bad = browser.get("/console/integrations/not-a-number").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert!(bad.content_type().starts_with("text/html"), "{}", bad.text);
}
both_backends!(pages_show_records_integrations_and_their_statuses);

async fn an_overview_is_applied_and_then_no_longer_valid(backend: Backend) {
    let (app, _scim, admin, directory) = directory(backend).await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;

    let started = browser.post(&format!("/console/integrations/{directory}/overviews"), &[]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);
    let at = location(&started);
    assert!(at.ends_with("?background=1"), "{at}");
    let running = browser.get(&at).await;
    assert!(running.text.contains("Sync Overview continues in the background"), "{}", running.text);
    app.drain_jobs().await;
    let overview_path = at.trim_end_matches("?background=1").to_owned();
    let ready = browser.get(&overview_path).await;
    assert!(ready.text.contains("Create: <strong>2</strong>"), "{}", ready.text);
    assert!(ready.text.contains("e-1@acme.test") && ready.text.contains(">Apply</button>"), "{}", ready.text);
    let errors_only = browser.get(&format!("{overview_path}?action=error")).await;
    assert!(errors_only.text.contains("No changes here."), "{}", errors_only.text);

    // Apply: Sync Now of exactly this overview, in the background.
    let overview_id = overview_path.rsplit('/').next().unwrap().to_owned();
    let applied =
        browser.post(&format!("/console/integrations/{directory}/sync-runs"), &[("overview_id", &overview_id)]).await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.text);
    let run_at = location(&applied);
    let modal = browser.get(&run_at).await;
    assert!(modal.text.contains("Sync continues in the background"), "{}", modal.text);
    assert!(modal.text.contains("data-open-modal"));
    app.drain_jobs().await;
    let run_path = run_at.trim_end_matches("?background=1").to_owned();
    let log = browser.get(&run_path).await;
    assert!(log.text.contains("Succeeded") && log.text.contains("e-2"), "{}", log.text);
    assert!(log.text.contains("Created: <strong>2</strong>"), "{}", log.text);
    assert!(browser.get(&format!("{run_path}?outcome=failed")).await.text.contains("No entries here"));

    // The bell counts both notifications; opening the list marks them seen.
    let page = browser.get("/console/integrations").await;
    assert!(page.text.contains("sse-swap=\"bell\">2<"), "{}", page.text);
    let list = browser.get("/console/notifications").await;
    assert!(list.text.contains("is ready") && list.text.contains("Sync complete"), "{}", list.text);
    assert_eq!(app.get("/v1/notifications", &admin.token).await.body["unseen_count"], 0);

    // Another admin runs an overview: the first is no longer valid, and
    // its page shows none of its changes.
    let other = app.post("/v1/admins", &admin.token, json!({"email": "b@acme.test", "name": "Bea"})).await;
    let other_token = other.body["token"].as_str().expect("a token").to_owned();
    let newer = app.post(&format!("/v1/integrations/{directory}/overviews"), &other_token, json!({})).await;
    assert_eq!(newer.status, 202, "{}", newer.text);
    let stale = browser.get(&overview_path).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert!(stale.text.contains("Sync Overview data no longer valid"), "{}", stale.text);
    assert!(stale.text.contains("A newer Sync Overview"), "{}", stale.text);
    assert!(stale.text.contains("Run a new Sync Overview"));
    assert!(!stale.text.contains("e-1@acme.test") && !stale.text.contains(">Apply</button>"), "{}", stale.text);
}
both_backends!(an_overview_is_applied_and_then_no_longer_valid);

async fn a_record_page_follows_its_sync_live(backend: Backend) {
    let (app, _scim, admin, _directory) = directory(backend).await;
    let browser = ConsoleClient::signed_in(&app, &admin.token).await;
    let response = app
        .client
        .get(format!("{}/console/live?record_type=employee&record_id=e-1", app.base))
        .header(COOKIE, browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut response = response;
    let mut seen = String::new();
    until(&mut response, &mut seen, "event: bell").await;
    until(&mut response, &mut seen, "event: record").await;
    assert!(seen.contains("Sync pending"), "{seen}");
    seen.clear();
    app.advance(61.0);
    app.drain().await;
    until(&mut response, &mut seen, "Synced").await;
    assert!(seen.contains("event: record"), "{seen}");
    // A write shows its new values and the pending sync on the open page.
    seen.clear();
    let patched = app.patch("/v1/records/employee/e-1", &admin.token, json!({"first_name": "Adele"})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    until(&mut response, &mut seen, "Adele").await;
    assert!(seen.contains("Sync pending"), "{seen}");

    // Another tenant's record, or none, cannot be watched.
    let other = app.tenant("other").await;
    let theirs = ConsoleClient::signed_in(&app, &other.token).await;
    let refused = theirs.get("/console/live?record_type=employee&record_id=e-1").await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}
both_backends!(a_record_page_follows_its_sync_live);

/// Reads an event stream into `seen` until `want` arrives (the stream
/// polls every 50 ms here), failing after 10 s.
async fn until(response: &mut reqwest::Response, seen: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `{want}` within 10 s; got: {seen}"));
        let chunk = chunk.expect("the stream goes on").expect("the stream is not over");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
