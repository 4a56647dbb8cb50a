//! Two `lockstep serve` processes share one PostgreSQL queue in front of a
//! slow third party, with more due syncs than their pushes in flight. Each
//! user is created exactly once and no sync is pushed by both at the same
//! time: a worker claims only what it can push at once, and no push runs
//! past its claim's lease, after which the other process may claim it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::lockstep_bin::ServeProcess;
use support::proxy::FaultProxy;
use support::{Backend, ScimServer};

/// Every request to the third party takes this long, so a claim of more
/// syncs than the concurrency would outlive its lease.
const LATENCY: Duration = Duration::from_millis(300);
const EMPLOYEES: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_and_a_slow_peer_create_each_user_once_and_never_push_it_twice_at_once() {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    proxy.slow_down(LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let database_url = Backend::Postgres.database_url(dir.path()).await;
    // Two pushes in flight per process, claims of up to 16: a worker that
    // claimed a whole batch would start its last pushes after the 2 s lease.
    let worker = [
        ("LOCKSTEP_WORKER__CONCURRENCY", "2"),
        ("LOCKSTEP_WORKER__BATCH_SIZE", "16"),
        ("LOCKSTEP_WORKER__LEASE_SECONDS", "2"),
    ];
    let first = ServeProcess::start(&database_url, "127.0.0.0/8", &worker, &[]).await;
    let second = ServeProcess::start(&database_url, "127.0.0.0/8", &worker, &[]).await;

    let token = first.tenant_admin("acme").await;
    first.directory(&token, &proxy.base_url, &scim.token).await;
    let records: Vec<Value> = (1..=EMPLOYEES)
        .map(|n| json!({"id": format!("e{n}"), "fields": {"email": format!("e{n}@acme.test"), "first_name": "E"}}))
        .collect();
    second.call(&token, reqwest::Method::POST, "/v1/records/employee/batch", Some(json!({"records": records}))).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = first.call(&token, reqwest::Method::GET, "/v1/records/employee?limit=100", None).await;
        let synced = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sync"]["integrations"][0]["status"] == json!("synced"))
            .count();
        if synced == EMPLOYEES {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {synced} of {EMPLOYEES} employees synced within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for n in 1..=EMPLOYEES {
        let users = scim.users_with_external_id(&format!("e{n}")).await;
        assert_eq!(users.len(), 1, "exactly one user for e{n}");
    }
    assert_eq!(proxy.count("POST"), EMPLOYEES, "each user was created once");
    assert_eq!(proxy.overlapping_writes(), 0, "no user was written by two pushes at the same time");
    drop((first, second));
}
