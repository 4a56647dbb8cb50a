//! Benchmark of pushes: how many syncs per second Lockstep's write-sync
//! workers push to SCIM third parties, and how late each push starts after
//! its grace period ends.
//!
//! `cargo bench -p lockstep --bench push -- --backend sqlite`
//! `cargo bench -p lockstep --bench push -- --backend postgres --database-url postgres://…/empty_db`
//! (`scripts/bench --push` runs both, with a throwaway PostgreSQL cluster.)
//!
//! One run: N new employees written through the batch endpoint (batches of
//! B on C connections) into a tenant with K SCIM integrations, each its own
//! sandbox third party on 127.0.0.1, with a grace period of G seconds; then
//! the workers push every (record, integration) pair, N × K pushes, each a
//! create in its sandbox. The writes go as fast as the API takes them (the
//! pushes then drain a backlog: their rate is the workers' capacity), or,
//! with `--rate R`, at a steady R / K records per second, so that R syncs
//! fall due per second (lateness then says whether the workers keep up
//! with R). Runs are done for K = 1 and 3 unless
//! `--integrations` says otherwise, each on a fresh store (on PostgreSQL, on
//! the same database in a new tenant: give each run its own database, as
//! `scripts/bench` does, for clean figures).
//!
//! How it measures without looking inside the engine. The sandboxes run in
//! this process, so each push's result can be read back from them:
//! - **due time** of a record's syncs = when the batch holding it was
//!   acknowledged + G. The store computed the real due time when it
//!   committed, slightly before the acknowledgement, so lateness is
//!   understated by at most the batch's answer time (printed beside it);
//! - **start of a push** = the `meta.created` of the user it created (ms
//!   precision): the push's first request (the look-up by `externalId`)
//!   came one round trip earlier;
//! - **pushes per second** = N × K / (last created − first created);
//! - **lateness** = start − due, p50 / p99 / max over all pushes.
//!
//! It also prints the sandboxes' request counts per push, the connectors'
//! mean push time (Lockstep's `push_seconds` histogram), and the CPU time of
//! the Lockstep threads (server, workers and, on SQLite, the store), the
//! sandbox threads and the load generator (this thread). The worker's
//! settings come from the environment (`LOCKSTEP_WORKER__CONCURRENCY`,
//! `LOCKSTEP_WORKER__BATCH_SIZE`) as for `lockstep serve`.

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use lockstep::config::Config;
use lockstep_sandbox::{RequestStats, Sandbox, SandboxHandle, SandboxOptions};
use serde_json::{json, Value};
use support::cpu::{CpuSampler, CpuSeconds};
use support::{employee, percentile, Load, SentBatch, Server};
use tokio::runtime::Runtime;

#[derive(Debug, Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// For postgres: the URL of an empty database.
    #[arg(long)]
    database_url: Option<String>,
    /// Employees written (each pushed once per integration).
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Runs with this many integrations each, one after another.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    integrations: Vec<usize>,
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// The integrations' grace period.
    #[arg(long, default_value_t = 1.0)]
    grace_seconds: f64,
    /// Write at a steady rate that makes this many syncs due per second
    /// (records/s = rate / integrations), to see how late pushes start at
    /// that rate. Unset: write as fast as the API takes it, then measure how
    /// fast the workers drain what is due.
    #[arg(long)]
    rate: Option<f64>,
    /// Give up when the pushes have not all arrived after this long.
    #[arg(long, default_value_t = 3_600)]
    timeout_seconds: u64,
    // `cargo bench` passes `--bench`; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

const SANDBOX_TOKEN: &str = "push-benchmark-sandbox-token";

/// What one run measured.
struct Run {
    integrations: usize,
    pushes: usize,
    writes_per_second: f64,
    batch_latency_ms: (f64, f64),
    pushes_per_second: f64,
    /// p50, p99, max.
    lateness_ms: (f64, f64, f64),
    stats: RequestStats,
    mean_push_ms: Option<f64>,
    outcomes: Vec<(String, u64)>,
    cpu: CpuSeconds,
    wall_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.integrations.iter().all(|k| (1..=3).contains(k)), "--integrations takes 1, 2 or 3");
    // Three runtimes, so the CPU each part uses can be read by thread name:
    // Lockstep (API, workers, and SQLite, which runs on their threads), the
    // sandboxes, and the load generator on this thread.
    let lockstep = tokio::runtime::Builder::new_multi_thread().thread_name("lockstep").enable_all().build()?;
    let sandboxes =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("sandbox").enable_all().build()?;
    let load = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let config = Config::load(None)?;
    println!(
        "backend={} records={} batch={} connections={} grace={}s writes={} worker.concurrency={} worker.batch_size={}",
        args.backend,
        args.records,
        args.batch,
        args.connections,
        args.grace_seconds,
        args.rate.map_or("as fast as taken".into(), |rate| format!("paced to {rate} syncs due per second")),
        config.worker.concurrency,
        config.worker.batch_size
    );
    let mut runs = Vec::new();
    for (index, &integrations) in args.integrations.iter().enumerate() {
        let run = load.block_on(run(&args, config.clone(), integrations, index, &lockstep, &sandboxes))?;
        print_details(&run);
        runs.push(run);
    }
    println!("\n| integrations | pushes | pushes/s | lateness p50 | p99 | max | requests/push | writes/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        let requests = run.stats.by_method.values().sum::<u64>() + run.stats.searches;
        println!(
            "| {} | {} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {:.0} |",
            run.integrations,
            run.pushes,
            run.pushes_per_second,
            run.lateness_ms.0,
            run.lateness_ms.1,
            run.lateness_ms.2,
            requests as f64 / run.pushes as f64,
            run.writes_per_second,
        );
    }
    Ok(())
}

async fn run(
    args: &Args,
    config: Config,
    integrations: usize,
    index: usize,
    lockstep: &Runtime,
    sandboxes: &Runtime,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let database_url = support::database_url(&args.backend, args.database_url.as_deref(), dir.path())?;
    let config = support::bench_config(config, database_url);
    let server = lockstep.spawn(Server::start(config)).await??;
    let mut third_parties: Vec<SandboxHandle> = Vec::new();
    for (name, _) in support::mappings().iter().take(integrations) {
        let options = SandboxOptions {
            name: (*name).to_owned(),
            bearer_token: Some(SANDBOX_TOKEN.into()),
            ..SandboxOptions::default()
        };
        let started = sandboxes.spawn(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            anyhow::Ok(Sandbox::start(listener, options).await)
        });
        third_parties.push(started.await??);
    }

    let client = reqwest::Client::builder().pool_max_idle_per_host(32).build()?;
    let token = support::create_tenant(&client, &server.base, &format!("push{index}")).await?;
    for ((name, mapping), sandbox) in support::mappings().into_iter().zip(&third_parties) {
        let third_party = (sandbox.base_url(), SANDBOX_TOKEN);
        let grace = json!({"grace_period_seconds": args.grace_seconds});
        support::add_scim_integration(&client, &server.base, &token, name, third_party, mapping, grace).await?;
    }

    let cpu = CpuSampler::start();
    let started = Instant::now();
    let url = format!("{}/v1/records/employee/batch", server.base);
    let interval = args.rate.map(|rate| Duration::from_secs_f64(args.batch as f64 * integrations as f64 / rate));
    let load = Load { records: args.records, batch: args.batch, connections: args.connections, interval };
    let batches = support::send_batches(&client, &url, &token, load, |n| employee(n, ("v1", 1))).await;
    let writes_per_second = args.records as f64 / started.elapsed().as_secs_f64();

    let pushes = args.records * integrations;
    let deadline = started + Duration::from_secs(args.timeout_seconds);
    let mut reported = Instant::now();
    loop {
        let arrived: usize = third_parties.iter().map(SandboxHandle::user_count).sum();
        if arrived >= pushes {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {arrived} of {pushes} pushes arrived in time");
        if reported.elapsed() >= Duration::from_secs(10) {
            eprintln!("  {arrived} of {pushes} pushed after {:.0} s", started.elapsed().as_secs_f64());
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();

    let metrics = client.get(format!("{}/metrics", server.base)).send().await?.text().await?;
    let (outcomes, mean_push_ms) = read_metrics(&metrics);
    let mut stats = RequestStats::default();
    let mut starts = Vec::with_capacity(pushes);
    let mut lateness = Vec::with_capacity(pushes);
    let due = due_times(&batches, args.records, args.grace_seconds);
    for sandbox in &third_parties {
        let seen = sandbox.stats();
        for (method, count) in seen.by_method {
            *stats.by_method.entry(method).or_default() += count;
        }
        stats.searches += seen.searches;
        stats.failed_by_faults += seen.failed_by_faults;
        stats.users_examined += seen.users_examined;
        for user in sandbox.users() {
            let (start, n) = push_start(&user)?;
            starts.push(start);
            lateness.push((start - due[n]).num_milliseconds() as f64);
        }
    }
    starts.sort();
    lateness.sort_by(f64::total_cmp);
    let span = (*starts.last().expect("pushes") - starts[0]).num_milliseconds().max(1) as f64 / 1e3;
    let mut latencies: Vec<f64> = batches.iter().map(|b| b.latency.as_secs_f64() * 1e3).collect();
    latencies.sort_by(f64::total_cmp);

    server.stop().await?;
    for sandbox in third_parties {
        sandboxes.spawn(sandbox.shutdown()).await?;
    }
    let quantile = |sorted: &[f64], p| percentile(sorted, p).unwrap_or(f64::NAN);
    Ok(Run {
        integrations,
        pushes,
        writes_per_second,
        batch_latency_ms: (quantile(&latencies, 0.5), quantile(&latencies, 0.99)),
        pushes_per_second: pushes as f64 / span,
        lateness_ms: (quantile(&lateness, 0.5), quantile(&lateness, 0.99), quantile(&lateness, 1.0)),
        stats,
        mean_push_ms,
        outcomes,
        cpu,
        wall_seconds,
    })
}

/// Each record's due time: its batch's acknowledgement + the grace period.
fn due_times(batches: &[SentBatch], records: usize, grace_seconds: f64) -> Vec<DateTime<Utc>> {
    let grace = chrono::Duration::milliseconds((grace_seconds * 1e3).round() as i64);
    let mut due = vec![DateTime::<Utc>::MIN_UTC; records];
    for batch in batches {
        due[batch.first..batch.first + batch.count].fill(batch.acknowledged_at + grace);
    }
    due
}

/// When the push that created `user` ran, and which employee it was.
fn push_start(user: &Value) -> anyhow::Result<(DateTime<Utc>, usize)> {
    let created = user["meta"]["created"].as_str().ok_or_else(|| anyhow::anyhow!("no meta.created in {user}"))?;
    let created = DateTime::parse_from_rfc3339(created)?.with_timezone(&Utc);
    let external_id = user["externalId"].as_str().ok_or_else(|| anyhow::anyhow!("no externalId in {user}"))?;
    let n = external_id.strip_prefix("emp-").and_then(|n| n.parse().ok());
    Ok((created, n.ok_or_else(|| anyhow::anyhow!("unexpected externalId {external_id}"))?))
}

/// Sync outcomes and the mean push time, from Lockstep's `/metrics`
/// (`lockstep_syncs_total{outcome=…}`, `lockstep_push_seconds_{sum,count}`).
fn read_metrics(text: &str) -> (Vec<(String, u64)>, Option<f64>) {
    let value = |line: &str| line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
    let mut outcomes = Vec::new();
    let (mut sum, mut count) = (None, None);
    for line in text.lines().filter_map(|line| line.strip_prefix("lockstep_")) {
        if let Some(rest) = line.strip_prefix("syncs_total{outcome=\"") {
            let outcome = rest.split('"').next().unwrap_or_default().to_owned();
            outcomes.push((outcome, value(line).unwrap_or_default() as u64));
        } else if line.starts_with("push_seconds_sum") {
            sum = value(line);
        } else if line.starts_with("push_seconds_count") {
            count = value(line);
        }
    }
    let mean = sum.zip(count).filter(|(_, c)| *c > 0.0).map(|(s, c)| s / c * 1e3);
    (outcomes, mean)
}

fn print_details(run: &Run) {
    let per_push = |n: u64| n as f64 / run.pushes as f64;
    println!("\n{} integration(s), {} pushes in {:.1} s:", run.integrations, run.pushes, run.wall_seconds);
    println!(
        "  writes {:.0} records/s; batch answered in p50 {:.0} ms, p99 {:.0} ms (lateness is understated by up to this)",
        run.writes_per_second, run.batch_latency_ms.0, run.batch_latency_ms.1
    );
    println!(
        "  pushes {:.0}/s; lateness p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        run.pushes_per_second, run.lateness_ms.0, run.lateness_ms.1, run.lateness_ms.2
    );
    let methods: Vec<String> =
        run.stats.by_method.iter().map(|(method, n)| format!("{method} {:.2}", per_push(*n))).collect();
    println!(
        "  sandbox requests per push: {} (users examined by filters: {:.2} per push; injected failures: {})",
        methods.join(", "),
        per_push(run.stats.users_examined),
        run.stats.failed_by_faults
    );
    println!(
        "  sync outcomes: {:?}; mean push (connector, as Lockstep timed it): {}",
        run.outcomes,
        run.mean_push_ms.map_or("-".into(), |ms| format!("{ms:.1} ms"))
    );
    let groups: Vec<String> = run.cpu.by_group.iter().map(|(name, s)| format!("{name} {s:.1} s")).collect();
    println!(
        "  CPU of this process {:.1} s over {:.1} s (by thread: {})",
        run.cpu.process,
        run.wall_seconds,
        groups.join(", ")
    );
}
