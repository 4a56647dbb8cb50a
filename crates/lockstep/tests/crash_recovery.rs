//! A `lockstep serve` process killed with SIGKILL in the middle of a sync
//! comes back and converges, with no duplicate users and no duplicate writes
//! in the third party. The kill lands at the worst instant: the third party
//! has applied the write but Lockstep has not heard back, so only the durable
//! claim and the connector's look-up-before-create stand between a restart
//! and a duplicate.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::proxy::{FaultProxy, Hold};
use support::{free_port, Backend, ScimServer};
use tokio::process::{Child, Command};

const OPERATOR_TOKEN: &str = "operator-token-for-the-crash-test";

/// Starts `lockstep serve` on `port` and waits until it answers /healthz.
/// On SQLite it keeps its secret key beside the database, so the restarted
/// process must read back the key the first one made; PostgreSQL needs one
/// configured.
async fn serve(database_url: &str, port: u16) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    if database_url.starts_with("postgres") {
        command.env("LOCKSTEP_SECRET_KEYS", support::app::TEST_SECRET_KEY);
    }
    let child = command
        .arg("serve")
        .env("LOCKSTEP_DATABASE_URL", database_url)
        .env("LOCKSTEP_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOCKSTEP_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("LOCKSTEP_OUTBOUND_ALLOW", "127.0.0.0/8")
        .env("LOCKSTEP_WORKER__LEASE_SECONDS", "2")
        .env("LOCKSTEP_WORKER__IDLE_POLL_SECONDS", "0.2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("lockstep serve starts");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if response.status().is_success() {
                return child;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "lockstep serve did not answer /healthz within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(
    client: &reqwest::Client,
    port: u16,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, format!("http://127.0.0.1:{port}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("lockstep answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn a_process_killed_mid_sync_converges_without_duplicates(backend: Backend) {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = backend.database_url(dir.path()).await;
    let port = free_port();
    let client = reqwest::Client::new();

    let mut first = serve(&database_url, port).await;
    let tenant = call(
        &client,
        port,
        OPERATOR_TOKEN,
        reqwest::Method::POST,
        "/v1/tenants",
        Some(json!({"name": "acme", "admin": {"email": "a@acme.test", "name": "A"}})),
    )
    .await;
    let token = tenant["token"].as_str().unwrap().to_owned();
    call(
        &client,
        port,
        &token,
        reqwest::Method::POST,
        "/v1/integrations",
        Some(json!({
            "name": "Directory",
            "connector": {"kind": "scim", "base_url": proxy.base_url, "bearer_token": scim.token},
            "field_mapping": {"email": "userName", "first_name": "name.givenName"},
            "grace_period_seconds": 0.2
        })),
    )
    .await;

    // Every write reaches the third party, but its answer is held back.
    proxy.hold(Hold::AfterForwarding);
    let employees: Vec<String> = (1..=5).map(|n| format!("e{n}")).collect();
    for id in &employees {
        call(
            &client,
            port,
            &token,
            reqwest::Method::PUT,
            &format!("/v1/records/employee/{id}"),
            Some(json!({"email": format!("{id}@acme.test"), "first_name": id})),
        )
        .await;
    }
    proxy.wait_until_held(employees.len()).await;
    assert_eq!(scim.users().await.len(), employees.len(), "the third party applied every create");

    first.kill().await.expect("SIGKILL");
    proxy.release_all();

    let mut second = serve(&database_url, port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut synced = 0;
        for id in &employees {
            let record =
                call(&client, port, &token, reqwest::Method::GET, &format!("/v1/records/employee/{id}"), None).await;
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
    second.kill().await.ok();
}
both_backends!(a_process_killed_mid_sync_converges_without_duplicates);
