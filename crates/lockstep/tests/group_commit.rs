//! Group commit: concurrent record writes of a tenant share store
//! transactions, yet each request gets its own answer, and one request's
//! failure is its own.
//!
//! The first scenario runs on both stores with real concurrency (grouped or
//! not, every answer must be right). The second makes grouping certain on
//! PostgreSQL: a `psql` session holds a lock on `records`, so the first
//! write waits inside its transaction while the next ones queue behind it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::api::*;
use support::app::TestApp;
use support::postgres::{psql, HeldTransaction};
use support::Backend;

const EMAIL: &str = "userName";

async fn app_with_integration(backend: Backend) -> (Arc<TestApp>, String, i64) {
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    let directory = app.integration(&acme.token, scim_integration("Directory", json!({"email": EMAIL}))).await;
    (Arc::new(app), acme.token, directory)
}

/// PUTs an employee in a task of its own, optionally with `If-Match`.
fn spawn_put(
    app: &Arc<TestApp>,
    token: &str,
    id: &str,
    fields: Value,
    if_match: Option<&str>,
) -> tokio::task::JoinHandle<Answer> {
    let (app, token, id, if_match) = (app.clone(), token.to_owned(), id.to_owned(), if_match.map(str::to_owned));
    tokio::spawn(async move {
        let mut request = app.client.put(format!("{}/v1/records/employee/{id}", app.base)).bearer_auth(&token);
        if let Some(version) = if_match {
            request = request.header("if-match", format!("\"{version}\""));
        }
        answer(request.json(&fields).send().await.expect("the API answers")).await
    })
}

fn email(n: usize) -> Value {
    json!({"email": format!("person{n}@acme.test")})
}

/// Asserts a write's answer: created at version 1, pending in `directory`.
fn assert_created_pending(answer: &Answer, directory: i64) {
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["version"], 1);
    let syncs = answer.body["sync"]["integrations"].as_array().expect("integrations");
    assert_eq!(syncs.len(), 1, "{}", answer.text);
    assert_eq!(syncs[0]["integration_id"], directory);
    assert_eq!(syncs[0]["status"], "sync_pending");
    assert!(syncs[0]["sync_starts_at"].is_string(), "{}", answer.text);
}

async fn concurrent_writes_each_get_their_own_answer(backend: Backend) {
    let (app, token, directory) = app_with_integration(backend).await;
    app.put_employee(&token, "fixed", email(0)).await;

    let mut creates = Vec::new();
    for n in 1..=24 {
        creates.push((n, spawn_put(&app, &token, &format!("e-{n}"), email(n), None)));
    }
    // A stale If-Match among them fails alone.
    let stale = spawn_put(&app, &token, "fixed", email(99), Some("7"));
    for (n, task) in creates {
        let created = task.await.unwrap();
        assert_created_pending(&created, directory);
        assert_eq!(created.body["id"], format!("e-{n}"));
        assert_eq!(created.body["fields"], email(n));
    }
    let stale = stale.await.unwrap();
    stale.problem(412);

    for n in 1..=24 {
        assert_eq!(app.employee(&token, &format!("e-{n}")).await["fields"], email(n));
    }
    let fixed = app.employee(&token, "fixed").await;
    assert_eq!((fixed["version"].clone(), fixed["fields"].clone()), (json!(1), email(0)));
}
both_backends!(concurrent_writes_each_get_their_own_answer);

/// Reads one sample of a metric from `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.send(Method::GET, "/metrics", None, None).await.text;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits (polling, at most 20 s) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "waited 20 s for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Holds `records` locked, starts one write (which waits on the lock inside
/// its transaction), then `queued` more, and waits until they are queued.
async fn queue_behind_a_held_write(
    app: &Arc<TestApp>,
    token: &str,
    first: &str,
    queued: Vec<(String, Option<&str>)>,
) -> (HeldTransaction, tokio::task::JoinHandle<Answer>, Vec<tokio::task::JoinHandle<Answer>>) {
    let lock = HeldTransaction::begin(&app.database_url, "LOCK TABLE records IN SHARE MODE").await;
    let first = spawn_put(app, token, first, email(0), None);
    let url = app.database_url.clone();
    until("the first write to wait on the lock", || {
        let url = url.clone();
        async move {
            psql(
                &url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
            )
            .await
                == "1"
        }
    })
    .await;
    let count = queued.len() as f64;
    let tasks = queued
        .into_iter()
        .enumerate()
        .map(|(n, (id, if_match))| spawn_put(app, token, &id, email(n + 1), if_match))
        .collect();
    until("the other writes to queue", || async { metric(app, "lockstep_write_requests_waiting").await == count })
        .await;
    (lock, first, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_behind_a_commit_share_the_next_transaction() {
    let (app, token, directory) = app_with_integration(Backend::Postgres).await;
    let before = metric(&app, "lockstep_write_transactions_total").await;

    let queued = (1..=20).map(|n| (format!("q-{n}"), None)).collect();
    let (lock, first, tasks) = queue_behind_a_held_write(&app, &token, "first", queued).await;
    lock.commit().await;
    assert_created_pending(&first.await.unwrap(), directory);
    for task in tasks {
        assert_created_pending(&task.await.unwrap(), directory);
    }
    let transactions = metric(&app, "lockstep_write_transactions_total").await - before;
    assert_eq!(transactions, 2.0, "the first write alone, then the 20 queued ones together");
    assert_eq!(metric(&app, "lockstep_write_requests_waiting").await, 0.0);
    for n in 1..=20 {
        assert_eq!(app.status(&token, &format!("q-{n}"), directory).await, "sync_pending");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_in_a_group_fails_alone() {
    let (app, token, directory) = app_with_integration(Backend::Postgres).await;

    // Ten good writes and one whose If-Match names a version that does not exist.
    let mut queued: Vec<(String, Option<&str>)> = (1..=10).map(|n| (format!("q-{n}"), None)).collect();
    queued.insert(4, ("stale".to_owned(), Some("3")));
    let (lock, first, tasks) = queue_behind_a_held_write(&app, &token, "first", queued).await;
    lock.commit().await;
    assert_created_pending(&first.await.unwrap(), directory);
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let stale = answers.remove(4);
    stale.problem(412);
    for answer in &answers {
        assert_created_pending(answer, directory);
    }
    for n in 1..=10 {
        assert_eq!(app.status(&token, &format!("q-{n}"), directory).await, "sync_pending");
    }
    let missing = app.get("/v1/records/employee/stale", &token).await;
    missing.problem(404);
}
