//! The `lockstep` binary as a peer: [`ServeProcess`] (`lockstep serve`, for
//! what only a real process shows, such as its environment) and
//! [`SandboxProcess`] (`lockstep sandbox`, the built-in SCIM third party,
//! whose `GET /_sandbox/stats` counts the requests it received). Each starts
//! on a free port, fails the test loudly (with its stderr) when it does not
//! come up, and is killed by its process id when dropped.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::peers::{free_port, random_hex, PeerProcess};

/// How long a process gets to answer after it was spawned.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);
/// Spawn attempts when another process grabs the chosen port first.
const PORT_ATTEMPTS: usize = 5;

fn lockstep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockstep")
}

/// Polls `url` (with `token`) until it answers 200, the process exits, or the deadline passes.
async fn wait_until_answers(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    child: &mut PeerProcess,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < STARTUP_DEADLINE {
        if let Some(status) = child.exited() {
            return Err(format!("{} exited early with {status}", child.name()));
        }
        match http.get(url).bearer_auth(token).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{url} answered {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
        // Bounded polling while the process starts and binds.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not ready after {STARTUP_DEADLINE:?}; last probe: {last}"))
}

/// A `lockstep serve` process on its own port and store.
pub struct ServeProcess {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub operator_token: String,
    http: reqwest::Client,
    child: PeerProcess,
}

impl ServeProcess {
    /// Starts `lockstep serve` on `database_url` with the outbound
    /// allow-list `allow`, its environment changed by `env` (set) and
    /// `unset`, and waits until it answers `/healthz`.
    pub async fn start(database_url: &str, allow: &str, env: &[(&str, &str)], unset: &[&str]) -> ServeProcess {
        Self::start_with(database_url, allow, env, unset, false).await
    }

    /// Like [`Self::start`], with `LOCKSTEP_PUBLIC_URL` set to the process's
    /// own [`Self::base_url`], so the links it hands out (the console's
    /// sign-in links) lead back to it. The port is only known per attempt,
    /// hence a constructor rather than an `env` entry.
    pub async fn start_public(database_url: &str, allow: &str, env: &[(&str, &str)], unset: &[&str]) -> ServeProcess {
        Self::start_with(database_url, allow, env, unset, true).await
    }

    async fn start_with(
        database_url: &str,
        allow: &str,
        env: &[(&str, &str)],
        unset: &[&str],
        public_url: bool,
    ) -> ServeProcess {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client");
        let operator_token = random_hex(16);
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new(lockstep_bin());
            command
                .arg("serve")
                .env("LOCKSTEP_DATABASE_URL", database_url)
                .env("LOCKSTEP_LISTEN", format!("127.0.0.1:{port}"))
                .env("LOCKSTEP_OPERATOR_TOKEN", &operator_token)
                .env("LOCKSTEP_OUTBOUND_ALLOW", allow)
                .env("LOCKSTEP_WORKER__IDLE_POLL_SECONDS", "0.2")
                .env("RUST_LOG", "warn");
            // PostgreSQL needs a configured secret key (SQLite makes one
            // beside its database); `env` may name another.
            if database_url.starts_with("postgres") {
                command.env("LOCKSTEP_SECRET_KEYS", super::app::TEST_SECRET_KEY);
            }
            for name in unset {
                command.env_remove(name);
            }
            for (name, value) in env {
                command.env(name, value);
            }
            let base_url = format!("http://127.0.0.1:{port}");
            if public_url {
                command.env("LOCKSTEP_PUBLIC_URL", &base_url);
            }
            let mut child = PeerProcess::spawn("lockstep serve", command);
            match wait_until_answers(&http, &format!("{base_url}/healthz"), "", &mut child).await {
                Ok(()) => return ServeProcess { base_url, operator_token, http, child },
                Err(why) => failures.push(format!("port {port}: {why}\n--- stderr ---\n{}", child.stderr())),
            }
        }
        panic!("lockstep serve did not come up after {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// Sends a request with `token`; asserts a success and answers its JSON body.
    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: lockstep serve did not answer: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Creates a tenant named `name` with one admin; answers the admin's token.
    pub async fn tenant_admin(&self, name: &str) -> String {
        let admin = json!({"email": format!("admin@{name}.test"), "name": "Admin"});
        let tenant = self
            .call(&self.operator_token, Method::POST, "/v1/tenants", Some(json!({"name": name, "admin": admin})))
            .await;
        tenant["token"].as_str().expect("a new tenant's admin token").to_owned()
    }

    /// Connects the SCIM third party at `base_url` as "Directory": email to
    /// `userName`, first name to `name.givenName`, a 0.2 s grace period.
    pub async fn directory(&self, token: &str, base_url: &str, bearer_token: &str) -> Value {
        let integration = json!({
            "name": "Directory",
            "connector": {"kind": "scim", "base_url": base_url, "bearer_token": bearer_token},
            "field_mapping": {"email": "userName", "first_name": "name.givenName"},
            "grace_period_seconds": 0.2
        });
        self.call(token, Method::POST, "/v1/integrations", Some(integration)).await
    }

    /// What the process wrote to stderr so far (its log).
    pub fn stderr(&mut self) -> String {
        self.child.stderr()
    }
}

/// A `lockstep sandbox` process: an in-memory SCIM directory with a bearer token.
pub struct SandboxProcess {
    /// `http://127.0.0.1:PORT`; users are under `/Users`.
    pub base_url: String,
    pub token: String,
    http: reqwest::Client,
    _child: PeerProcess,
}

impl SandboxProcess {
    pub async fn start() -> SandboxProcess {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client");
        let token = random_hex(16);
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new(lockstep_bin());
            command
                .args(["sandbox", "--listen", &format!("127.0.0.1:{port}"), "--name", "Directory"])
                .env("LOCKSTEP_SANDBOX_BEARER_TOKEN", &token)
                .env("RUST_LOG", "warn");
            let mut child = PeerProcess::spawn("lockstep sandbox", command);
            let base_url = format!("http://127.0.0.1:{port}");
            match wait_until_answers(&http, &format!("{base_url}/_sandbox/stats"), &token, &mut child).await {
                Ok(()) => return SandboxProcess { base_url, token, http, _child: child },
                Err(why) => failures.push(format!("port {port}: {why}\n--- stderr ---\n{}", child.stderr())),
            }
        }
        panic!("lockstep sandbox did not come up after {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// Sends a request; answers the status and the JSON body (null when empty).
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: the sandbox did not answer: {e}"));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Requests to `/Users…` by method since the last reset, e.g. `{"GET": 1, "PATCH": 1}`.
    pub async fn requests_by_method(&self) -> Value {
        let (status, stats) = self.send(Method::GET, "/_sandbox/stats", None).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        stats["by_method"].clone()
    }

    /// Zeroes the request counts.
    pub async fn reset_stats(&self) {
        let (status, body) = self.send(Method::DELETE, "/_sandbox/stats", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// The users whose `externalId` is `id`.
    pub async fn users_with_external_id(&self, id: &str) -> Vec<Value> {
        let filter = format!("externalId eq {}", Value::String(id.into()));
        let path =
            format!("/Users?filter={}", url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>());
        let (status, body) = self.send(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["Resources"].as_array().cloned().unwrap_or_default()
    }
}
