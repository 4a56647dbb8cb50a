//! Third-party peers for the black-box tests: where the Python venv is, how to get a
//! free loopback port, and [`ScimServer`] (a real `scim2-server` per test, on its own
//! port and bearer token, killed by PID when dropped).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a peer gets to answer after it was spawned.
const STARTUP_DEADLINE: Duration = Duration::from_secs(15);
/// Spawn attempts when another process grabs the chosen port first.
const PORT_ATTEMPTS: usize = 5;

/// The venv `scripts/test` installs the Python peers into.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("LOCKSTEP_TEST_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
    }
}

/// `$LOCKSTEP_TEST_VENV/bin/NAME`, else `<workspace>/.venv/bin/NAME`. Panics if missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(path.is_file(), "{} not found: run scripts/test to install the test peers", path.display());
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
/// Another process may take it before the caller binds: starters retry on that race.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A random lowercase hex string of `2 * bytes` characters.
pub fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// A child process killed (SIGKILL) and reaped on drop; its stderr goes to an
/// anonymous temp file so a failure can show it.
pub struct PeerProcess {
    name: String,
    child: Child,
    stderr: File,
}

impl PeerProcess {
    /// Spawns `command` with stdin closed, stdout discarded and stderr captured.
    pub fn spawn(name: &str, mut command: Command) -> PeerProcess {
        let stderr = tempfile::tempfile().expect("temp file for peer stderr");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr.try_clone().expect("clone stderr file")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        PeerProcess { name: name.to_string(), child, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait on peer")
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&mut self) -> String {
        let mut out = String::new();
        let _ = self.stderr.seek(SeekFrom::Start(0));
        let _ = self.stderr.read_to_string(&mut out);
        out
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real SCIM 2.0 service provider: `scim2-server` (PyPI), in memory, HTTP/1.0,
/// single-threaded, on 127.0.0.1. Every instance has its own port and bearer token and
/// starts empty.
pub struct ScimServer {
    /// `http://127.0.0.1:PORT` — resources are under `/Users`, `/Groups`, ...
    pub base_url: String,
    /// The bearer token the server accepts (and the only one).
    pub token: String,
    pub port: u16,
    http: reqwest::Client,
    child: PeerProcess,
}

impl ScimServer {
    /// Spawns `scim2-server` on a free port and waits (at most 15 s) until it answers an
    /// authenticated request with this instance's token — so a server of another test that
    /// happened to take the same port is never mistaken for ours.
    pub async fn start() -> ScimServer {
        let bin = venv_bin("scim2-server");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client");
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let token = random_hex(16);
            let mut command = Command::new(&bin);
            command
                .arg("--hostname")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(port.to_string())
                .arg("--bearer-token")
                .arg(&token);
            let mut child = PeerProcess::spawn("scim2-server", command);
            let base_url = format!("http://127.0.0.1:{port}");
            match wait_until_ready(&http, &base_url, &token, &mut child).await {
                Ok(()) => return ScimServer { base_url, token, port, http, child },
                Err(why) => {
                    failures.push(format!("port {port}: {why}\n--- scim2-server stderr ---\n{}", child.stderr()))
                }
            }
        }
        panic!("scim2-server did not come up after {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// What the server wrote to stderr so far (its request log).
    pub fn stderr(&mut self) -> String {
        self.child.stderr()
    }

    /// `Authorization` header value for this server.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// A client for ad-hoc requests (add [`Self::authorization`] yourself).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `base_url` + `path` (path starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Every resource of one type (`"Users"`, `"Groups"`), at most 1000.
    pub async fn list(&self, resource: &str, filter: Option<&str>) -> Vec<Value> {
        let mut query = vec![("count", "1000".to_string())];
        if let Some(filter) = filter {
            query.push(("filter", filter.to_string()));
        }
        let response = self
            .http
            .get(self.url(&format!("/{resource}")))
            .header("Authorization", self.authorization())
            .query(&query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /{resource} on scim2-server: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("GET /{resource}: body is not JSON: {e}"));
        assert!(status.is_success(), "GET /{resource}: {status}: {body}");
        match body.get("Resources") {
            Some(Value::Array(items)) => items.clone(),
            None => Vec::new(),
            Some(other) => panic!("GET /{resource}: Resources is not a list: {other}"),
        }
    }

    /// All users the server holds.
    pub async fn users(&self) -> Vec<Value> {
        self.list("Users", None).await
    }

    /// The users whose `externalId` equals `id` (a SCIM `eq` filter).
    pub async fn users_with_external_id(&self, id: &str) -> Vec<Value> {
        let filter = format!("externalId eq {}", scim_string(id));
        self.list("Users", Some(&filter)).await
    }

    /// All groups the server holds.
    pub async fn groups(&self) -> Vec<Value> {
        self.list("Groups", None).await
    }
}

/// A SCIM filter string literal (JSON string syntax, RFC 7644 §3.4.2.2).
pub fn scim_string(value: &str) -> String {
    Value::String(value.to_string()).to_string()
}

async fn wait_until_ready(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    child: &mut PeerProcess,
) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < STARTUP_DEADLINE {
        if let Some(status) = child.exited() {
            return Err(format!("{} exited early with {status}", child.name()));
        }
        // The token is per instance: only *our* server answers 200 here.
        let probe = http
            .get(format!("{base_url}/ServiceProviderConfig"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await;
        match probe {
            Ok(r) if r.status().is_success() => {
                let users = http
                    .get(format!("{base_url}/Users?count=1"))
                    .header("Authorization", format!("Bearer {token}"))
                    .send()
                    .await;
                match users {
                    Ok(r) if r.status().is_success() => return Ok(()),
                    Ok(r) => last = format!("GET /Users answered {} (another server?)", r.status()),
                    Err(e) => last = format!("GET /Users: {e}"),
                }
            }
            Ok(r) => last = format!("GET /ServiceProviderConfig answered {}", r.status()),
            Err(e) => last = format!("GET /ServiceProviderConfig: {e}"),
        }
        // Bounded polling while the Python process imports and binds.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not ready after {STARTUP_DEADLINE:?}; last probe: {last}"))
}
