//! Benchmark of the operations an admin starts on an integration: a Sync
//! Overview of a large directory, and a Sync Now that creates every user.
//!
//! `cargo bench -p lockstep --bench operations` (SQLite; defaults below)
//! `cargo bench -p lockstep --bench operations -- --overview 100000 --sync-now 0 --runs 1`
//! `cargo bench -p lockstep --bench operations -- --backend postgres --database-url postgres://…/empty_db`
//! (`scripts/bench --operations-only` runs both stores, with a throwaway
//! PostgreSQL cluster.)
//!
//! Lockstep runs as a `lockstep serve` process and the third party as a
//! `lockstep sandbox` process, both built by cargo beside this benchmark,
//! so that the peak resident set read from `/proc/<pid>/status` (`VmHWM`)
//! is Lockstep's alone. This process only seeds, starts and polls.
//!
//! **Overview of N employees.** N employees are written through the batch
//! endpoint (5,000 per request, 4 in flight) into a tenant with one SCIM
//! integration (grace period 30 days, so the write-sync worker pushes
//! none of them), and the sandbox is filled through `POST /_sandbox/users`
//! with the directory of a customer mostly in step (see [`Case`]): a user
//! for every employee but the 1 in 3,000 hired since (creates); 1 in 3,000
//! has left (record `terminated`, user still active: deactivations); 1 in
//! 200 users holds an older family name (updates); the rest match
//! (unchanged); plus N / 1,000 users that are not ours (contractors:
//! unmanaged). The users are listed in a shuffled order, not in the
//! records' order, so the walk's look-ups get no locality a real directory
//! would not give them. Then `lockstep serve` is restarted (the seeding's
//! memory is not counted) and an overview is started (`POST
//! /v1/integrations/{id}/overviews`, the tenant's `background_after_seconds`
//! 0, so it answers 202 at once) and `GET /v1/overviews/{id}` is polled every
//! 50 ms until it is `ready`; its summary must be exactly what was seeded.
//! Each further run restarts the process again and computes a new overview
//! of the same data.
//!
//! **Sync Now of N creates.** N employees, all eligible, against an empty
//! sandbox, seeded and restarted the same way; `POST
//! /v1/integrations/{id}/sync-runs` and `GET /v1/sync-runs/{id}` until it is
//! no longer running; it must have `succeeded` with N creates, and the
//! sandbox must hold N users. Each run starts from a new store and sandbox.
//!
//! Reported per run: seconds from the POST to the poll that saw the end,
//! users (or operations) per second, Lockstep's peak RSS since the restart
//! (and its RSS when idle after it), and the CPU seconds the `lockstep
//! serve` and `lockstep sandbox` processes used meanwhile. `lockstep serve`
//! takes its settings from this process's environment (`LOCKSTEP_JOBS__*`,
//! `LOCKSTEP_WORKER__*`), as it would anywhere; `BENCH_LOCKSTEP_BIN` runs
//! another build of `lockstep` instead of the one cargo built.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use support::process::{lockstep_bin, lockstep_bins, Process};
use support::{employee_id, percentile, Load, ENTERPRISE, OPERATOR};

#[derive(Debug, Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// For postgres: the URL of an empty database (every scenario gets its
    /// own tenant in it).
    #[arg(long)]
    database_url: Option<String>,
    /// Overviews of directories of these sizes (employees; 0: none).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    overview: Vec<usize>,
    /// Sync Nows of this many creates (0: none).
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    sync_now: Vec<usize>,
    /// Measured runs of each.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Give up on an operation that has not ended after this long.
    #[arg(long, default_value_t = 1_800)]
    timeout_seconds: u64,
    // `cargo bench` passes `--bench`; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

const SANDBOX_TOKEN: &str = "operations-benchmark-sandbox-token";
/// Records per batch request (the endpoint's maximum).
const RECORD_BATCH: usize = 5_000;
/// Users per `POST /_sandbox/users`.
const USER_BATCH: usize = 10_000;
/// How often the operation's status is read.
const POLL: Duration = Duration::from_millis(50);

/// What a full sync finds for employee `n` of the overview's directory.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Unchanged,
    /// The user holds an older family name.
    Update,
    /// Hired since: no user yet.
    Create,
    /// Left (record `terminated`), the user still active.
    Deactivate,
}

fn case(n: usize) -> Case {
    match (n % 3_000, n % 200) {
        (1, _) => Case::Create,
        (2, _) => Case::Deactivate,
        (_, 3) => Case::Update,
        _ => Case::Unchanged,
    }
}

/// Employee `n` as a batch element.
fn record(n: usize, active: bool) -> Value {
    json!({
        "id": employee_id(n),
        "fields": {
            "email": format!("person{n}@bench.example"),
            "first_name": "Bench", "last_name": format!("Person {n}"),
            "title": "Engineer", "employee_number": format!("{n:07}"),
            "department": "Engineering", "cost_center": "CC-1", "salary": 1,
            "status": if active { "active" } else { "terminated" }
        }
    })
}

/// Employee `n`'s user in the sandbox, as a sync would have left it
/// (`None`: it has none).
fn user(n: usize) -> Option<Value> {
    let family_name = match case(n) {
        Case::Create => return None,
        Case::Update => format!("Person {n} (before)"),
        Case::Unchanged | Case::Deactivate => format!("Person {n}"),
    };
    Some(json!({
        "userName": format!("person{n}@bench.example"),
        "externalId": employee_id(n),
        "name": {"givenName": "Bench", "familyName": family_name},
        "title": "Engineer",
        ENTERPRISE: {"employeeNumber": format!("{n:07}")},
        "active": true
    }))
}

/// Contractor `k`: a user that is not ours.
fn unmanaged(k: usize) -> Value {
    json!({
        "userName": format!("contractor{k}@vendor.example"),
        "externalId": format!("contractor-{k}"),
        "name": {"givenName": "Contractor", "familyName": format!("{k}")},
        "active": true
    })
}

/// The integration: email to `userName` and four attributes more; active
/// employees only; a grace period of 30 days, so no seeded record is
/// pushed by the write-sync worker.
fn integration(sandbox: &str) -> Value {
    json!({
        "name": "Directory",
        "connector": {"kind": "scim", "base_url": sandbox, "bearer_token": SANDBOX_TOKEN},
        "field_mapping": {
            "email": "userName", "first_name": "name.givenName", "last_name": "name.familyName",
            "title": "title", "employee_number": format!("{ENTERPRISE}:employeeNumber")
        },
        "eligibility": [{"field": "status", "op": "eq", "value": "active"}],
        "grace_period_seconds": 2_592_000
    })
}

/// A deterministic shuffle (xorshift64, Fisher–Yates).
fn shuffled(len: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..len).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// A binary's name in the report (its file name).
fn label(bin: &str) -> String {
    Path::new(bin).file_name().map_or_else(|| bin.to_owned(), |name| name.to_string_lossy().into_owned())
}

/// One measured operation.
struct Measured {
    /// The `lockstep` that served it.
    bin: String,
    scenario: &'static str,
    size: usize,
    seconds: f64,
    /// From the operation's own timestamps (start to finish, in the store).
    server_seconds: f64,
    peak_rss: u64,
    idle_rss: u64,
    resident_at_end: (u64, u64),
    lockstep_cpu: f64,
    sandbox_cpu: f64,
    detail: String,
}

/// One seeded tenant: its store, the two processes, the token and the integration.
struct Setup {
    database_url: String,
    serve: Process,
    sandbox: Process,
    token: String,
    integration: i64,
    http: reqwest::Client,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let settings: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("LOCKSTEP_") || k == "BENCH_LOCKSTEP_BIN")
        .filter(|(k, _)| !k.contains("SECRET") && !k.contains("TOKEN"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "backend={} runs={} lockstep serve settings: {}",
        args.backend,
        args.runs,
        if settings.is_empty() { "defaults".into() } else { settings.join(" ") }
    );
    let dir = tempfile::tempdir()?;
    let bins = lockstep_bins();
    let mut measured = Vec::new();
    for (index, &size) in args.overview.iter().enumerate().filter(|(_, &n)| n > 0) {
        let mut setup = seed(&args, dir.path(), &format!("overview{index}"), size, true).await?;
        for run in 1..=args.runs {
            for bin in &bins {
                setup.restart(dir.path(), bin).await?;
                let m = Measured { bin: label(bin), ..overview(&args, &setup, size).await? };
                report(run, &m);
                measured.push(m);
            }
        }
        setup.stop().await?;
    }
    for (index, &size) in args.sync_now.iter().enumerate().filter(|(_, &n)| n > 0) {
        for run in 1..=args.runs {
            for (b, bin) in bins.iter().enumerate() {
                let tenant = format!("syncnow{index}r{run}b{b}");
                let mut setup = seed(&args, dir.path(), &tenant, size, false).await?;
                setup.restart(dir.path(), bin).await?;
                let m = Measured { bin: label(bin), ..sync_now(&args, &setup, size).await? };
                report(run, &m);
                measured.push(m);
                setup.stop().await?;
            }
        }
    }
    summary(&measured);
    Ok(())
}

/// Starts the two processes on a new store and tenant and seeds them: the
/// records, and, when `directory` is set, the overview's directory in the
/// sandbox (otherwise it stays empty).
async fn seed(args: &Args, dir: &Path, label: &str, size: usize, directory: bool) -> anyhow::Result<Setup> {
    let database_url = match args.backend.as_str() {
        "sqlite" => format!("sqlite://{}/{label}.db", dir.display()),
        "postgres" => {
            args.database_url.clone().ok_or_else(|| anyhow::anyhow!("--database-url is required for postgres"))?
        }
        other => anyhow::bail!("unknown backend {other} (sqlite or postgres)"),
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(8).build()?;
    let sandbox = start_sandbox(&http, dir).await?;
    let serve = start_serve(&http, dir, &database_url, &lockstep_bin()).await?;
    let token = support::create_tenant(&http, &serve.base_url, label).await?;
    let patched = http
        .patch(format!("{}/v1/settings", serve.base_url))
        .bearer_auth(&token)
        .json(&json!({"background_after_seconds": 0}))
        .send()
        .await?;
    anyhow::ensure!(patched.status().is_success(), "settings: {}", patched.text().await?);
    let created = http
        .post(format!("{}/v1/integrations", serve.base_url))
        .bearer_auth(&token)
        .json(&integration(&sandbox.base_url))
        .send()
        .await?;
    anyhow::ensure!(created.status().is_success(), "integration: {}", created.text().await?);
    let integration =
        created.json::<Value>().await?["id"].as_i64().ok_or_else(|| anyhow::anyhow!("no integration id"))?;

    let started = Instant::now();
    let load = Load { records: size, batch: RECORD_BATCH, connections: 4, interval: None };
    let url = format!("{}/v1/records/employee/batch", serve.base_url);
    support::send_batches(&http, &url, &token, load, |n| record(n, !directory || case(n) != Case::Deactivate)).await;
    let records_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut users = 0;
    if directory {
        let order = shuffled(size + size / 1_000);
        for chunk in order.chunks(USER_BATCH) {
            let batch: Vec<Value> = chunk
                .iter()
                .filter_map(|&i| match i as usize {
                    n if n < size => user(n),
                    k => Some(unmanaged(k - size)),
                })
                .collect();
            users += batch.len();
            let seeded = http
                .post(format!("{}/_sandbox/users", sandbox.base_url))
                .bearer_auth(SANDBOX_TOKEN)
                .json(&json!({"Users": batch}))
                .send()
                .await?;
            anyhow::ensure!(seeded.status().is_success(), "seeding the sandbox: {}", seeded.text().await?);
        }
    }
    println!(
        "\n{label}: {size} records in {records_seconds:.1} s ({:.0}/s), {users} sandbox users in {:.1} s",
        size as f64 / records_seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(Setup { database_url, serve, sandbox, token, integration, http })
}

async fn start_serve(http: &reqwest::Client, dir: &Path, database_url: &str, bin: &str) -> anyhow::Result<Process> {
    // PostgreSQL needs a configured secret key; SQLite makes one beside its
    // database, which a restart finds again.
    let key = database_url
        .starts_with("postgres")
        .then(|| std::env::var("LOCKSTEP_SECRET_KEYS").unwrap_or_else(|_| bench_secret_key().to_owned()));
    Process::start("lockstep serve", &dir.join("serve.log"), http, "", "/healthz", |port| {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("LOCKSTEP_DATABASE_URL", database_url)
            .env("LOCKSTEP_LISTEN", format!("127.0.0.1:{port}"))
            .env("LOCKSTEP_OPERATOR_TOKEN", OPERATOR)
            .env("LOCKSTEP_OUTBOUND_ALLOW", "127.0.0.0/8")
            .env("LOCKSTEP_BODY_LIMIT_BYTES", (64u64 << 20).to_string())
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()));
        if let Some(key) = &key {
            command.env("LOCKSTEP_SECRET_KEYS", key);
        }
        command
    })
    .await
}

/// One secret key for every PostgreSQL serve process of this run.
fn bench_secret_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| lockstep::secrets::SecretKey::generate().to_base64().as_str().to_owned())
}

async fn start_sandbox(http: &reqwest::Client, dir: &Path) -> anyhow::Result<Process> {
    Process::start("lockstep sandbox", &dir.join("sandbox.log"), http, SANDBOX_TOKEN, "/_sandbox/stats", |port| {
        let mut command = Command::new(lockstep_bin());
        command
            .args(["sandbox", "--listen", &format!("127.0.0.1:{port}"), "--name", "Directory"])
            .env("LOCKSTEP_SANDBOX_BEARER_TOKEN", SANDBOX_TOKEN)
            // The sandbox logs every request at info; it is the third party
            // here, and its log is not what is measured.
            .env("RUST_LOG", "warn");
        command
    })
    .await
}

impl Setup {
    /// Stops `lockstep serve` and starts it again on the same store, as
    /// `bin`: the peak RSS counts from here.
    async fn restart(&mut self, dir: &Path, bin: &str) -> anyhow::Result<()> {
        let serve = start_serve(&self.http, dir, &self.database_url, bin).await?;
        let old = std::mem::replace(&mut self.serve, serve);
        old.stop().await
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.serve.stop().await?;
        self.sandbox.stop().await?;
        if let Some(path) = self.database_url.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm", ".key"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        Ok(())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.serve.base_url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    /// Starts an operation with `POST start` and polls `GET {poll}/{id}`
    /// until `ended` holds; the body at the end and the measures.
    async fn measure(
        &self,
        args: &Args,
        start: &str,
        poll: &str,
        ended: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(Value, f64, Usage)> {
        let (_, idle_rss) = self.serve.memory()?;
        let (lockstep_cpu, sandbox_cpu) = (self.serve.cpu_seconds()?, self.sandbox.cpu_seconds()?);
        let started = Instant::now();
        let body = self.call(reqwest::Method::POST, start, None).await?;
        let id = body["id"].as_i64().ok_or_else(|| anyhow::anyhow!("{start}: no id in {body}"))?;
        let deadline = started + Duration::from_secs(args.timeout_seconds);
        let body = loop {
            let body = self.call(reqwest::Method::GET, &format!("{poll}/{id}"), None).await?;
            if ended(&body) {
                break body;
            }
            anyhow::ensure!(Instant::now() < deadline, "{poll}/{id} did not end in time: {body}");
            tokio::time::sleep(POLL).await;
        };
        let seconds = started.elapsed().as_secs_f64();
        let (peak_rss, _) = self.serve.memory()?;
        let usage = Usage {
            peak_rss,
            idle_rss,
            resident_at_end: self.serve.resident()?,
            lockstep_cpu: self.serve.cpu_seconds()? - lockstep_cpu,
            sandbox_cpu: self.sandbox.cpu_seconds()? - sandbox_cpu,
        };
        Ok((body, seconds, usage))
    }
}

/// Memory and CPU of one measured operation.
struct Usage {
    peak_rss: u64,
    idle_rss: u64,
    /// Anonymous and file-backed resident memory when it ended.
    resident_at_end: (u64, u64),
    lockstep_cpu: f64,
    sandbox_cpu: f64,
}

/// The seconds between two of the API's timestamps.
fn span(body: &Value, from: &str, to: &str) -> f64 {
    let at = |key: &str| body[key].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match (at(from), at(to)) {
        (Some(from), Some(to)) => (to - from).num_milliseconds() as f64 / 1e3,
        _ => f64::NAN,
    }
}

async fn overview(args: &Args, setup: &Setup, size: usize) -> anyhow::Result<Measured> {
    let start = format!("/v1/integrations/{}/overviews", setup.integration);
    let (body, seconds, usage) = setup.measure(args, &start, "/v1/overviews", |b| b["status"] != "running").await?;
    anyhow::ensure!(body["status"] == "ready", "the overview did not succeed: {body}");
    let count = |wanted: Case| (0..size).filter(|&n| case(n) == wanted).count();
    let expected = json!({
        "create": count(Case::Create), "update": count(Case::Update), "deactivate": count(Case::Deactivate),
        "error": 0, "unchanged": count(Case::Unchanged), "unmanaged": size / 1_000
    });
    anyhow::ensure!(body["summary"] == expected, "the overview found {} where {expected} was seeded", body["summary"]);
    let s = &body["summary"];
    Ok(Measured {
        bin: String::new(),
        scenario: "overview",
        size,
        seconds,
        server_seconds: span(&body, "created_at", "finished_at"),
        peak_rss: usage.peak_rss,
        idle_rss: usage.idle_rss,
        resident_at_end: usage.resident_at_end,
        lockstep_cpu: usage.lockstep_cpu,
        sandbox_cpu: usage.sandbox_cpu,
        detail: format!(
            "{} users listed: create {}, update {}, deactivate {}, unchanged {}, unmanaged {}",
            size - count(Case::Create) + size / 1_000,
            s["create"],
            s["update"],
            s["deactivate"],
            s["unchanged"],
            s["unmanaged"]
        ),
    })
}

async fn sync_now(args: &Args, setup: &Setup, size: usize) -> anyhow::Result<Measured> {
    let start = format!("/v1/integrations/{}/sync-runs", setup.integration);
    let (body, seconds, usage) = setup.measure(args, &start, "/v1/sync-runs", |b| b["status"] != "running").await?;
    anyhow::ensure!(body["status"] == "succeeded", "the run did not succeed: {body}");
    anyhow::ensure!(body["counts"]["created"] == size, "the run created {} of {size}", body["counts"]["created"]);
    let stats: Value = setup
        .http
        .get(format!("{}/_sandbox", setup.sandbox.base_url))
        .bearer_auth(SANDBOX_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(stats["users"] == size, "the sandbox holds {} users, not {size}", stats["users"]);
    Ok(Measured {
        bin: String::new(),
        scenario: "sync now",
        size,
        seconds,
        server_seconds: span(&body, "started_at", "finished_at"),
        peak_rss: usage.peak_rss,
        idle_rss: usage.idle_rss,
        resident_at_end: usage.resident_at_end,
        lockstep_cpu: usage.lockstep_cpu,
        sandbox_cpu: usage.sandbox_cpu,
        detail: format!("counts {}; sandbox requests {}", body["counts"], stats["stats"]["by_method"]),
    })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn report(run: usize, m: &Measured) {
    println!(
        "  {} {} run {run} ({}): {:.2} s ({:.2} s in the store's timestamps), {:.0}/s; peak RSS {:.0} MB (idle {:.0} MB; at the end {:.0} MB anonymous, {:.0} MB files); CPU: lockstep serve {:.1} s, sandbox {:.1} s",
        m.scenario,
        m.size,
        m.bin,
        m.seconds,
        m.server_seconds,
        m.size as f64 / m.seconds,
        mb(m.peak_rss),
        mb(m.idle_rss),
        mb(m.resident_at_end.0),
        mb(m.resident_at_end.1),
        m.lockstep_cpu,
        m.sandbox_cpu
    );
    println!("    {}", m.detail);
}

fn summary(measured: &[Measured]) {
    let bins = measured.iter().any(|m| m.bin != measured[0].bin);
    println!(
        "\n| operation | employees |{} run | seconds | per second | peak RSS | lockstep CPU | sandbox CPU |",
        if bins { " lockstep |" } else { "" }
    );
    println!("|---|---:|{}---:|---:|---:|---:|---:|---:|", if bins { "---|" } else { "" });
    let key = |m: &Measured| (m.scenario, m.size, m.bin.clone());
    let mut runs: Vec<((&str, usize, String), usize)> = Vec::new();
    for m in measured {
        let run = match runs.iter_mut().find(|(k, _)| *k == key(m)) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                runs.push((key(m), 1));
                1
            }
        };
        println!(
            "| {} | {} |{} {run} | {:.2} | {:.0} | {:.0} MB | {:.1} s | {:.1} s |",
            m.scenario,
            m.size,
            if bins { format!(" {} |", m.bin) } else { String::new() },
            m.seconds,
            m.size as f64 / m.seconds,
            mb(m.peak_rss),
            m.lockstep_cpu,
            m.sandbox_cpu
        );
    }
    for (group, _) in runs {
        let of_group: Vec<&Measured> = measured.iter().filter(|m| key(m) == group).collect();
        let mut seconds: Vec<f64> = of_group.iter().map(|m| m.seconds).collect();
        seconds.sort_by(f64::total_cmp);
        let mut cpu: Vec<f64> = of_group.iter().map(|m| m.lockstep_cpu).collect();
        cpu.sort_by(f64::total_cmp);
        let peak = of_group.iter().map(|m| m.peak_rss).max().unwrap_or_default();
        let median = percentile(&seconds, 0.5).unwrap_or(f64::NAN);
        let (scenario, size, bin) = group;
        println!(
            "{scenario} of {size}{}: median {median:.2} s ({:.0}/s), lockstep CPU median {:.1} s, highest peak RSS {:.0} MB",
            if bins { format!(" ({bin})") } else { String::new() },
            size as f64 / median,
            percentile(&cpu, 0.5).unwrap_or(f64::NAN),
            mb(peak)
        );
    }
}
