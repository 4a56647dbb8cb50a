//! A `lockstep serve` process for black-box tests that want the real binary
//! (its config loading, its migrations, its signal handling): started on a
//! free port of 127.0.0.1 with the given environment, ready once `/healthz`
//! answers, killed when dropped.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::free_port;

/// The operator token every served process is started with.
pub const SERVE_OPERATOR_TOKEN: &str = "operator-token-for-served-tests";

/// A running `lockstep serve`.
pub struct Served {
    pub base: String,
    pub client: reqwest::Client,
    child: Child,
}

impl Served {
    /// Starts `lockstep serve` on `database_url` with `env` added (each
    /// `LOCKSTEP_*` key as the binary reads it), and waits for `/healthz`.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_lockstep"));
        command
            .arg("serve")
            .env("LOCKSTEP_DATABASE_URL", database_url)
            .env("LOCKSTEP_LISTEN", format!("127.0.0.1:{port}"))
            .env("LOCKSTEP_OPERATOR_TOKEN", SERVE_OPERATOR_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("lockstep serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
                if response.status().is_success() {
                    return Self { base, client, child };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("lockstep serve exited with {status} before answering /healthz");
            }
            assert!(tokio::time::Instant::now() < deadline, "lockstep serve did not answer /healthz within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates a tenant with the operator token; answers its first admin's token.
    pub async fn tenant(&self, name: &str) -> String {
        let body = json!({"name": name, "admin": {"email": format!("admin@{name}.test"), "name": "Admin"}});
        let response = self
            .client
            .post(format!("{}/v1/tenants", self.base))
            .bearer_auth(SERVE_OPERATOR_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("lockstep answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
