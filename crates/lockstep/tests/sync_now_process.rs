//! Sync Overview and Sync Now against real `lockstep serve` processes, a
//! real `scim2-server` behind a fault proxy, on both stores: the answer in
//! time (201) and in the background (202, with a slow third party, and the
//! notification that follows); two Sync Nows at once; a process killed in
//! the middle of a run, whose run another process finishes without
//! duplicating a user, and whose Sync Log survives restarts.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::lockstep_bin::ServeProcess;
use support::proxy::{FaultProxy, Hold};
use support::{Backend, ScimServer};

/// Leases short enough that a killed process's work is taken over quickly.
const LEASES: [(&str, &str); 3] = [
    ("LOCKSTEP_JOBS__LEASE_SECONDS", "2"),
    ("LOCKSTEP_JOBS__IDLE_POLL_SECONDS", "0.2"),
    ("LOCKSTEP_WORKER__LEASE_SECONDS", "2"),
];

async fn send(serve: &ServeProcess, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", serve.base_url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("lockstep serve answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A Directory integration whose grace period is an hour: nothing is pushed
/// but by the operations under test.
async fn directory(serve: &ServeProcess, token: &str, base_url: &str, bearer: &str) -> i64 {
    let body = json!({
        "name": "Directory",
        "connector": {"kind": "scim", "base_url": base_url, "bearer_token": bearer},
        "field_mapping": {"email": "userName", "first_name": "name.givenName"},
        "grace_period_seconds": 3600
    });
    serve.call(token, Method::POST, "/v1/integrations", Some(body)).await["id"].as_i64().unwrap()
}

async fn employees(serve: &ServeProcess, token: &str, n: usize) {
    let records: Vec<Value> = (1..=n)
        .map(
            |i| json!({"id": format!("e{i:03}"), "fields": {"email": format!("e{i:03}@acme.test"), "first_name": "E"}}),
        )
        .collect();
    serve.call(token, Method::POST, "/v1/records/employee/batch", Some(json!({"records": records}))).await;
}

/// Polls `path` until `done` holds of its body (at most 60 s).
async fn until(serve: &ServeProcess, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = send(serve, token, Method::GET, path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} never got there: {status} {body}");
        // Bounded polling of a separate process's background work.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn work_waits_its_threshold_then_goes_to_the_background_and_notifies(backend: Backend) {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = backend.database_url(dir.path()).await;
    let serve = ServeProcess::start(&database_url, "127.0.0.0/8", &LEASES, &[]).await;
    let token = serve.tenant_admin("acme").await;
    let id = directory(&serve, &token, &proxy.base_url, &scim.token).await;
    employees(&serve, &token, 3).await;

    // Quick work answers with its result.
    let (status, overview) =
        send(&serve, &token, Method::POST, &format!("/v1/integrations/{id}/overviews"), None).await;
    assert_eq!(status, 201, "{overview}");
    assert_eq!((overview["status"].as_str(), overview["summary"]["create"].as_i64()), (Some("ready"), Some(3)));
    let (_, notes) = send(&serve, &token, Method::GET, "/v1/notifications", None).await;
    assert_eq!(notes["data"], json!([]), "work that answered in time notifies no one: {notes}");

    // A third party slower than the tenant's threshold: 202, then a notification.
    serve.call(&token, Method::PATCH, "/v1/settings", Some(json!({"background_after_seconds": 1}))).await;
    proxy.slow_down(Duration::from_millis(1500));
    let (status, slow) = send(&serve, &token, Method::POST, &format!("/v1/integrations/{id}/overviews"), None).await;
    assert_eq!(status, 202, "{slow}");
    assert_eq!(slow["status"], "running");
    let notes =
        until(&serve, &token, "/v1/notifications", |n| n["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    assert_eq!(notes["data"][0]["kind"], "sync_overview_ready", "{notes}");
    assert_eq!(notes["data"][0]["target"], json!({"type": "overview", "id": slow["id"]}));
    assert_eq!((notes["data"][0]["valid"].clone(), notes["unseen_count"].clone()), (json!(true), json!(1)));
    // The first overview is superseded by the second.
    let (_, first) = send(&serve, &token, Method::GET, &format!("/v1/overviews/{}", overview["id"]), None).await;
    assert_eq!(first["invalid_reason"], "superseded", "{first}");
}
both_backends!(work_waits_its_threshold_then_goes_to_the_background_and_notifies);

async fn two_sync_nows_at_once_start_one_run(backend: Backend) {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = backend.database_url(dir.path()).await;
    let serve = ServeProcess::start(&database_url, "127.0.0.0/8", &LEASES, &[]).await;
    let token = serve.tenant_admin("acme").await;
    let id = directory(&serve, &token, &proxy.base_url, &scim.token).await;
    employees(&serve, &token, 5).await;
    serve.call(&token, Method::PATCH, "/v1/settings", Some(json!({"background_after_seconds": 0}))).await;
    proxy.slow_down(Duration::from_millis(200));

    let path = format!("/v1/integrations/{id}/sync-runs");
    let (a, b) =
        tokio::join!(send(&serve, &token, Method::POST, &path, None), send(&serve, &token, Method::POST, &path, None));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let (started, refused) = if a.0 == 202 { (a.1, b.1) } else { (b.1, a.1) };
    assert!(refused["detail"].as_str().unwrap().contains(&format!("sync run {}", started["id"])), "{refused}");

    let run = until(&serve, &token, &format!("/v1/sync-runs/{}", started["id"]), |r| r["status"] != "running").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["created"], 5);
    assert_eq!(scim.users().await.len(), 5);
    // Once it ended, the next one starts.
    let (status, next) = send(&serve, &token, Method::POST, &path, None).await;
    assert_eq!(status, 202, "{next}");
}
both_backends!(two_sync_nows_at_once_start_one_run);

async fn a_sync_now_killed_mid_run_finishes_elsewhere_without_duplicates(backend: Backend) {
    killed_mid_run(backend, false).await;
}
both_backends!(a_sync_now_killed_mid_run_finishes_elsewhere_without_duplicates);

/// Applying an overview does not walk the third party again after a crash:
/// the creates whose answers were lost must be looked up, not posted again.
async fn an_overview_applied_by_a_run_killed_mid_way_creates_no_user_twice(backend: Backend) {
    killed_mid_run(backend, true).await;
}
both_backends!(an_overview_applied_by_a_run_killed_mid_way_creates_no_user_twice);

/// Starts a Sync Now of 40 creates (of an overview's, with `apply_overview`),
/// kills its process while the third party holds the answers to the first
/// writes, and lets another process finish it.
async fn killed_mid_run(backend: Backend, apply_overview: bool) {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = backend.database_url(dir.path()).await;
    let first = ServeProcess::start(&database_url, "127.0.0.0/8", &LEASES, &[]).await;
    let token = first.tenant_admin("acme").await;
    let id = directory(&first, &token, &proxy.base_url, &scim.token).await;
    employees(&first, &token, 40).await;
    first.call(&token, Method::PATCH, "/v1/settings", Some(json!({"background_after_seconds": 0}))).await;

    // The third party applies the run's first writes, but its answers are
    // held back: the process dies knowing nothing of them.
    let body = if apply_overview {
        let (status, overview) =
            send(&first, &token, Method::POST, &format!("/v1/integrations/{id}/overviews"), None).await;
        assert_eq!(status, 202, "{overview}");
        let path = format!("/v1/overviews/{}", overview["id"]);
        let ready = until(&first, &token, &path, |o| o["status"] == "ready").await;
        assert_eq!(ready["summary"]["create"], 40, "{ready}");
        Some(json!({"overview_id": overview["id"]}))
    } else {
        None
    };
    proxy.hold(Hold::AfterForwarding);
    let (status, started) = send(&first, &token, Method::POST, &format!("/v1/integrations/{id}/sync-runs"), body).await;
    assert_eq!(status, 202, "{started}");
    proxy.wait_until_held(3).await;
    drop(first); // SIGKILL
    proxy.release_all();
    // The dead process's writes land before its leases run out (a push is
    // bounded by its lease); one landing later still could only be refused.
    proxy.wait_until_no_writes_in_flight().await;

    let second = ServeProcess::start(&database_url, "127.0.0.0/8", &LEASES, &[]).await;
    let path = format!("/v1/sync-runs/{}", started["id"]);
    let run = until(&second, &token, &path, |r| r["status"] != "running").await;
    let (_, failed) = send(&second, &token, Method::GET, &format!("{path}/log?outcome=failed"), None).await;
    assert_eq!(run["status"], "succeeded", "{run}\nfailed: {failed}");
    let counts = &run["counts"];
    let created = counts["created"].as_i64().unwrap();
    assert_eq!(created + counts["unchanged"].as_i64().unwrap(), 40, "every employee once: {run}");
    assert_eq!(counts["failed"], 0);
    let users = scim.users().await;
    assert_eq!(users.len(), 40, "no user created twice");
    let mut external: Vec<&str> = users.iter().map(|u| u["externalId"].as_str().unwrap()).collect();
    external.dedup();
    assert_eq!(external.len(), 40);

    // The admin who started it hears that it ended.
    let notes =
        until(&second, &token, "/v1/notifications", |n| n["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    assert_eq!(notes["data"][0]["kind"], "sync_complete", "{notes}");

    // The log survives another restart unchanged.
    let (_, log) = send(&second, &token, Method::GET, &format!("{path}/log?limit=500"), None).await;
    assert_eq!(log["data"].as_array().unwrap().len() as i64, created, "{log}");
    drop(second);
    let third = ServeProcess::start(&database_url, "127.0.0.0/8", &LEASES, &[]).await;
    let (_, again) = send(&third, &token, Method::GET, &format!("{path}/log?limit=500"), None).await;
    assert_eq!(again, log);
    let (_, run_again) = send(&third, &token, Method::GET, &path, None).await;
    assert_eq!(run_again, run);
}
