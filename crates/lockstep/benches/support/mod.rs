//! What the benchmarks share (include with `mod support;`): the store a run
//! writes to, a Lockstep server on port 0, the benchmark's tenant, the
//! sample employee, batches sent through the API on a few connections, and
//! percentiles.
#![allow(dead_code)]

pub mod cpu;
pub mod process;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lockstep::config::Config;
use lockstep::App;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The operator token of every benchmark server.
pub const OPERATOR: &str = "benchmark-operator-token";

/// The enterprise extension's URN, for mappings.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The `database_url` for `--backend` (`sqlite`: a file in `dir`;
/// `postgres`: `--database-url`, an empty database).
pub fn database_url(backend: &str, database_url: Option<&str>, dir: &std::path::Path) -> anyhow::Result<String> {
    match backend {
        "sqlite" => Ok(format!("sqlite://{}/bench.db", dir.display())),
        "postgres" => {
            database_url.map(str::to_owned).ok_or_else(|| anyhow::anyhow!("--database-url is required for postgres"))
        }
        other => anyhow::bail!("unknown backend {other} (sqlite or postgres)"),
    }
}

/// `config` made fit for a benchmark: the operator token, third parties on
/// loopback, room for large batches.
pub fn bench_config(mut config: Config, database_url: String) -> Config {
    config.database_url = database_url;
    config.operator_token = Some(OPERATOR.into());
    config.outbound_allow = vec!["127.0.0.0/8".parse().expect("a CIDR")];
    config.body_limit_bytes = 64 << 20;
    config.secret_keys = vec![lockstep::secrets::SecretKey::generate()];
    config
}

/// A Lockstep server on 127.0.0.1, port 0, on the current runtime.
pub struct Server {
    pub base: String,
    pub shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let app = App::build(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(listener, shutdown.clone()));
        Ok(Server { base, shutdown, task })
    }

    /// Stops serving and the workers, and waits until they have.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await?
    }
}

/// Creates a tenant; answers its admin's bearer token.
pub async fn create_tenant(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let tenant: Value = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": name, "admin": {"email": format!("{name}@bench.example"), "name": "Bench"}}))
        .send()
        .await?
        .json()
        .await?;
    tenant["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token in {tenant}"))
}

/// Adds a SCIM integration; `extra` is merged into its JSON (a grace period, say).
pub async fn add_scim_integration(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    (base_url, bearer_token): (&str, &str),
    mapping: Value,
    extra: Value,
) -> anyhow::Result<()> {
    let mut body = json!({
        "name": name,
        "connector": {"kind": "scim", "base_url": base_url, "bearer_token": bearer_token},
        "field_mapping": mapping
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let response = client.post(format!("{base}/v1/integrations")).bearer_auth(token).json(&body).send().await?;
    anyhow::ensure!(response.status().is_success(), "integration {name}: {}", response.text().await?);
    Ok(())
}

/// The mappings of the benchmarks' three integrations, by name. Each maps
/// `email` to `userName`, plus two fields of its own.
pub fn mappings() -> [(&'static str, Value); 3] {
    [
        ("Directory", json!({"email": "userName", "first_name": "name.givenName", "last_name": "name.familyName"})),
        (
            "Payroll",
            json!({"email": "userName", "employee_number": format!("{ENTERPRISE}:employeeNumber"), "cost_center": format!("{ENTERPRISE}:costCenter")}),
        ),
        ("Benefits", json!({"email": "userName", "department": format!("{ENTERPRISE}:department"), "title": "title"})),
    ]
}

/// The external id of employee `n`.
pub fn employee_id(n: usize) -> String {
    format!("emp-{n:07}")
}

/// Employee `n` as a batch element, its email marked `email_version`.
pub fn employee(n: usize, (email_version, salary): (&str, u32)) -> Value {
    json!({
        "id": employee_id(n),
        "fields": {
            "email": format!("person{n}.{email_version}@bench.example"),
            "first_name": "Bench", "last_name": format!("Person {n}"),
            "department": "Engineering", "title": "Engineer",
            "employee_number": format!("{n:07}"), "cost_center": "CC-1",
            "salary": salary,
            "status": "active"
        }
    })
}

/// One batch request as sent and answered.
pub struct SentBatch {
    /// The records `first..first + count`.
    pub first: usize,
    pub count: usize,
    /// From sending the request to reading the whole answer.
    pub latency: Duration,
    /// When the answer was read: the writes are acknowledged.
    pub acknowledged_at: DateTime<Utc>,
}

/// How a benchmark sends its records.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub records: usize,
    /// Records per request.
    pub batch: usize,
    /// Requests in flight at most.
    pub connections: usize,
    /// When set, batch `i` is sent no earlier than `i × interval` after the
    /// first (a steady rate); otherwise as fast as the connections allow.
    pub interval: Option<Duration>,
}

/// Sends `load.records` employees (`make(n)` each) to the batch endpoint;
/// answers every batch in the order sent. Panics on a refused batch: a
/// benchmark that stored less than it claims must not print a figure.
pub async fn send_batches(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    load: Load,
    make: impl Fn(usize) -> Value,
) -> Vec<SentBatch> {
    let semaphore = Arc::new(Semaphore::new(load.connections));
    let mut tasks = Vec::new();
    let started = tokio::time::Instant::now();
    for (index, first) in (0..load.records).step_by(load.batch).enumerate() {
        if let Some(interval) = load.interval {
            tokio::time::sleep_until(started + interval * index as u32).await;
        }
        let last = (first + load.batch).min(load.records);
        let body = serde_json::to_vec(&json!({"records": (first..last).map(&make).collect::<Vec<_>>()}))
            .expect("JSON values serialise");
        let permit = semaphore.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the API answers");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "batch failed: {status} {text}");
            let acknowledged_at = Utc::now();
            drop(permit);
            SentBatch { first, count: last - first, latency: sent.elapsed(), acknowledged_at }
        }));
    }
    let mut sent = Vec::with_capacity(tasks.len());
    for task in tasks {
        sent.push(task.await.expect("a batch task"));
    }
    sent
}

/// The `p`-quantile (0–1) of `sorted`, nearest rank; `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}
