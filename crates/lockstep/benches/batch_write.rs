//! Benchmark of the batch endpoint with three write integrations: how many
//! relevant record changes per second Lockstep stores, with the sync states
//! they imply, through its real HTTP API on a real store.
//!
//! `cargo bench -p lockstep --bench batch_write -- --backend sqlite`
//! `cargo bench -p lockstep --bench batch_write -- --backend postgres --database-url postgres://…/empty_db`
//! (`scripts/bench` runs both, with a throwaway PostgreSQL cluster.)
//!
//! Phases, each over the same N employees in batches of B on C connections:
//! 1. create: every record is new → 3 pending sync states per record;
//! 2. relevant update: a mapped field of all three integrations changes →
//!    3 debounce upserts per record;
//! 3. irrelevant update: an unmapped field changes → no sync state touched;
//! 4. one at a time: relevant `PUT`s of single records, one after another on
//!    one connection (each its own durable transaction);
//! 5. concurrent singles: relevant single-record `PUT`s from 32 clients at
//!    once, as a platform's many workers would send them (group commit lets
//!    the ones that arrive together share a transaction);
//! 6. record pages: single-record `GET`s (the record and its sync view), one
//!    after another, as an administrator's console reads them.
//!
//! Workers are off: this measures the write path (API → planner → one
//! transaction per batch), not third parties.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use lockstep::config::Config;
use serde_json::json;
use support::{employee, Load, Server};

#[derive(Debug, Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// For postgres: the URL of an empty database.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Run the three batch phases only (to profile them on their own).
    #[arg(long)]
    batches_only: bool,
    // `cargo bench` passes `--bench`; accept and ignore it.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One relevant `PUT` of employee `n` (its email marked `email_version`);
/// answers how long the API took.
async fn put_single(client: &reqwest::Client, base: &str, token: &str, n: usize, email_version: &str) -> Duration {
    let fields = employee(n, (email_version, 1))["fields"].clone();
    let sent = Instant::now();
    let response = client
        .put(format!("{base}/v1/records/employee/emp-{n:07}"))
        .bearer_auth(token)
        .json(&fields)
        .send()
        .await
        .expect("the API answers");
    assert!(response.status().is_success(), "PUT failed: {}", response.status());
    sent.elapsed()
}

/// Relevant single-record PUTs, strictly one after another.
async fn run_singles(client: &reqwest::Client, base: &str, token: &str, count: usize) -> Phase {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for n in 0..count {
        latencies.push(put_single(client, base, token, n, "single").await);
    }
    Phase { name: "one at a time (single PUT, 3 debounces)", seconds: started.elapsed().as_secs_f64(), latencies }
}

/// Record pages (`GET`, the record with its sync view), one after another,
/// spread over all `records` employees.
async fn run_reads(client: &reqwest::Client, base: &str, token: &str, count: usize, records: usize) -> Phase {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let n = i * (records / count).max(1) % records;
        let sent = Instant::now();
        let response = client
            .get(format!("{base}/v1/records/employee/emp-{n:07}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        assert!(response.status().is_success(), "GET failed: {}", response.status());
        response.bytes().await.expect("the record page");
        latencies.push(sent.elapsed());
    }
    Phase { name: "record page (single GET with sync view)", seconds: started.elapsed().as_secs_f64(), latencies }
}

/// Relevant single-record PUTs from `clients` concurrent clients.
async fn run_concurrent_singles(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    count: usize,
    clients: usize,
) -> Phase {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, base, token, next) = (client.clone(), base.to_owned(), token.to_owned(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return latencies;
                }
                latencies.push(put_single(&client, &base, &token, n, "concurrent").await);
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Phase {
        name: "concurrent singles (32 clients, single PUT, 3 debounces)",
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

struct Phase {
    name: &'static str,
    seconds: f64,
    latencies: Vec<Duration>,
}

async fn run_phase(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    args: &Args,
    name: &'static str,
    values: (&'static str, u32),
) -> Phase {
    let started = Instant::now();
    let load = Load { records: args.records, batch: args.batch, connections: args.connections, interval: None };
    let sent = support::send_batches(client, url, token, load, |n| employee(n, values)).await;
    Phase { name, seconds: started.elapsed().as_secs_f64(), latencies: sent.iter().map(|b| b.latency).collect() }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let database_url = support::database_url(&args.backend, args.database_url.as_deref(), dir.path())?;
    let mut config = support::bench_config(Config::defaults(), database_url);
    config.worker.enabled = false;
    let server = Server::start(config).await?;
    let base = server.base.clone();

    let client = reqwest::Client::builder().pool_max_idle_per_host(32).build()?;
    let token = support::create_tenant(&client, &base, "bench").await?;
    for (name, mapping) in support::mappings() {
        // Workers are off: the third party is never reached.
        let third_party = ("http://127.0.0.1:9/scim", "unused");
        support::add_scim_integration(&client, &base, &token, name, third_party, mapping, json!({})).await?;
    }
    let url = format!("{base}/v1/records/employee/batch");
    let phases = [
        run_phase(&client, &url, &token, &args, "create (3 pending states each)", ("v1", 1)).await,
        run_phase(&client, &url, &token, &args, "relevant update (3 debounces each)", ("v2", 1)).await,
        run_phase(&client, &url, &token, &args, "irrelevant update (no state)", ("v2", 2)).await,
    ];
    let mut rows: Vec<(Phase, usize, f64)> =
        phases.into_iter().zip([3.0, 3.0, 0.0]).map(|(p, s)| (p, args.records, s)).collect();
    if !args.batches_only {
        let singles = args.records.min(5_000);
        rows.push((run_singles(&client, &base, &token, singles).await, singles, 3.0));
        let concurrent = args.records.min(20_000);
        rows.push((run_concurrent_singles(&client, &base, &token, concurrent, 32).await, concurrent, 3.0));
        rows.push((run_reads(&client, &base, &token, singles, args.records).await, singles, 0.0));
    }
    println!(
        "\nbackend={} records={} batch={} connections={}",
        args.backend, args.records, args.batch, args.connections
    );
    println!("| phase | records/s | sync-state writes/s | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    for (phase, count, states) in &rows {
        let mut sorted = phase.latencies.clone();
        sorted.sort();
        let pct = |p: f64| support::percentile(&sorted, p).unwrap_or_default().as_secs_f64() * 1e3;
        let rate = *count as f64 / phase.seconds;
        println!("| {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms |", phase.name, rate, rate * states, pct(0.5), pct(0.99));
    }
    server.stop().await
}
