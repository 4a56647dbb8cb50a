//! Prometheus metrics: one registry per app (so tests can run several apps
//! in one process), rendered in the text exposition format at `/metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a finished sync attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `synced`, `failed`, `retry` or `fenced` (a stale claim's result, dropped).
    pub outcome: String,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template, e.g. `/v1/records/{type}/{id}`.
    pub route: String,
    pub status: u16,
}

/// Labels of a background job's attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `overview`, `sync_run`, `notification_email`.
    pub kind: String,
    /// `succeeded`, `retry`, `dead`, or `lost` (another process took the job over).
    pub outcome: String,
}

/// Labels of the sync-state gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

/// Every metric Lockstep exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub syncs: Family<SyncLabels, Counter>,
    pub push_seconds: Histogram,
    pub record_writes: Counter,
    /// Store transactions that wrote records: fewer than requests when
    /// group commit combines them.
    pub write_transactions: Counter,
    /// Write requests queued for the next group transaction.
    pub write_requests_waiting: Gauge,
    pub http_requests: Family<HttpLabels, Counter>,
    pub sync_states: Family<StatusLabels, Gauge>,
    pub jobs: Family<JobLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lockstep");
        let syncs = Family::<SyncLabels, Counter>::default();
        registry.register("syncs", "Sync attempts by outcome", syncs.clone());
        let push_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register("push_seconds", "Time a push to a third party took", push_seconds.clone());
        let record_writes = Counter::default();
        registry.register("record_writes", "Record writes stored", record_writes.clone());
        let write_transactions = Counter::default();
        registry.register(
            "write_transactions",
            "Store transactions that wrote records (group commit shares one among requests)",
            write_transactions.clone(),
        );
        let write_requests_waiting = Gauge::default();
        registry.register(
            "write_requests_waiting",
            "Write requests queued for the next group transaction",
            write_requests_waiting.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", http_requests.clone());
        let sync_states = Family::<StatusLabels, Gauge>::default();
        registry.register("sync_states", "Sync states by status (at scrape time)", sync_states.clone());
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Background job attempts by kind and outcome", jobs.clone());
        Self {
            registry: Mutex::new(registry),
            syncs,
            push_seconds,
            record_writes,
            write_transactions,
            write_requests_waiting,
            http_requests,
            sync_states,
            jobs,
        }
    }

    /// Counts one ended attempt of a background job.
    pub fn job_attempt(&self, kind: &str, outcome: &str) {
        self.jobs.get_or_create(&JobLabels { kind: kind.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// Counts one finished sync attempt.
    pub fn sync_finished(&self, outcome: &str) {
        self.syncs.get_or_create(&SyncLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Counts one served HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        let labels = HttpLabels { method: method.to_owned(), route: route.to_owned(), status };
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Sets the sync-state gauges to the store's counts; a status missing
    /// from `counts` is set to zero rather than left at a stale value.
    pub fn set_sync_states(&self, counts: &[(lockstep_store::SyncStatus, i64)]) {
        use lockstep_store::SyncStatus;
        for status in [SyncStatus::Pending, SyncStatus::Syncing, SyncStatus::Synced, SyncStatus::Failed] {
            let count = counts.iter().filter(|(s, _)| *s == status).map(|(_, n)| *n).sum::<i64>();
            self.sync_states.get_or_create(&StatusLabels { status: status.as_str().to_owned() }).set(count);
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}
