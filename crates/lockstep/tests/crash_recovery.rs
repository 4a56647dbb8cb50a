//! A `lockstep serve` process killed with SIGKILL in the middle of a sync
//! comes back and converges, with no duplicate users and no duplicate writes
//! in the third party. The kill lands at the worst instant: the third party
//! has applied the write but Lockstep has not heard back, so only the durable
//! claim and the connector's look-up-before-create stand between a restart
//! and a duplicate.

mod support;

use std::time::Duration;

use serde_json::json;
use support::lockstep_bin::ServeProcess;
use support::proxy::{FaultProxy, Hold};
use support::{Backend, ScimServer};

async fn a_process_killed_mid_sync_converges_without_duplicates(backend: Backend) {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = backend.database_url(dir.path()).await;
    let lease = [("LOCKSTEP_WORKER__LEASE_SECONDS", "2")];

    let first = ServeProcess::start(&database_url, "127.0.0.0/8", &lease, &[]).await;
    let token = first.tenant_admin("acme").await;
    first.directory(&token, &proxy.base_url, &scim.token).await;

    // Every write reaches the third party, but its answer is held back.
    proxy.hold(Hold::AfterForwarding);
    let employees: Vec<String> = (1..=5).map(|n| format!("e{n}")).collect();
    for id in &employees {
        first
            .call(
                &token,
                reqwest::Method::PUT,
                &format!("/v1/records/employee/{id}"),
                Some(json!({"email": format!("{id}@acme.test"), "first_name": id})),
            )
            .await;
    }
    proxy.wait_until_held(employees.len()).await;
    assert_eq!(scim.users().await.len(), employees.len(), "the third party applied every create");

    drop(first); // SIGKILL
    proxy.release_all();

    let second = ServeProcess::start(&database_url, "127.0.0.0/8", &lease, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut synced = 0;
        for id in &employees {
            let record = second.call(&token, reqwest::Method::GET, &format!("/v1/records/employee/{id}"), None).await;
            if record["sync"]["integrations"][0]["status"] == json!("synced") {
                synced += 1;
            }
        }
        if synced == employees.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {synced} of {} employees synced 30 s after the restart",
            employees.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &employees {
        let users = scim.users_with_external_id(id).await;
        assert_eq!(users.len(), 1, "exactly one user for {id}");
        assert_eq!(users[0]["userName"], json!(format!("{id}@acme.test")));
    }
    assert_eq!(proxy.count("POST"), employees.len(), "each user was created once");
    assert_eq!(proxy.writes(), employees.len(), "the restart adopted the users without writing again");
}
both_backends!(a_process_killed_mid_sync_converges_without_duplicates);
