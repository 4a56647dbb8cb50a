//! `lockstep serve` as a child process, the way an operator runs it: for
//! tests about what happens between processes (a kill, two workers on one
//! database). The child is killed when its handle drops.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

/// The operator token every served process is started with.
pub const OPERATOR_TOKEN: &str = "operator-token-for-served-processes";

/// Starts `lockstep serve` on `port` with `env` on top of the test defaults
/// (loopback third parties allowed, a 0.2 s idle poll, warnings only) and
/// waits until it answers /healthz. On SQLite it keeps its secret key beside
/// the database, so a restarted process reads back the key the first one
/// made; PostgreSQL needs one configured.
pub async fn serve(database_url: &str, port: u16, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    if database_url.starts_with("postgres") {
        command.env("LOCKSTEP_SECRET_KEYS", super::app::TEST_SECRET_KEY);
    }
    command
        .arg("serve")
        .env("LOCKSTEP_DATABASE_URL", database_url)
        .env("LOCKSTEP_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOCKSTEP_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("LOCKSTEP_OUTBOUND_ALLOW", "127.0.0.0/8")
        .env("LOCKSTEP_WORKER__IDLE_POLL_SECONDS", "0.2")
        .env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command
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

/// Calls a served process and insists on a 2xx; answers the JSON body.
pub async fn call(
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
