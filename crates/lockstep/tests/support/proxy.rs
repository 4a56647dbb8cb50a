//! A fault-injection proxy that sits in front of a real third party (the
//! `scim2-server` peer) on 127.0.0.1. It forwards every request unchanged
//! and lets a test observe and disturb the traffic:
//! - count requests by method (to assert "exactly one write");
//! - answer an outage (`503`, or `429` with `Retry-After`) instead of forwarding;
//! - hold requests (before or after forwarding) until the test releases
//!   them, so a test can act while a sync is in flight;
//! - slow every request down (a slow third party), and count writes about
//!   one user that overlapped in time (two pushes of one sync at once).
//!
//! It is beside the real peer, never instead of it: what a test reads back
//! is what the real server stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::{Notify, Semaphore};

/// Where held writes wait. Reads (GET) are never held, so a connector's
/// look-up goes through and the hold lands on the write that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Forward at once.
    Off,
    /// Wait before forwarding (the third party has not seen the request).
    BeforeForwarding,
    /// Forward, then wait before answering (the third party has applied it).
    AfterForwarding,
}

#[derive(Debug, Clone)]
struct Outage {
    status: StatusCode,
    retry_after: Option<u64>,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    counts: Mutex<HashMap<String, usize>>,
    outage: Mutex<Option<Outage>>,
    hold: Mutex<Hold>,
    release: Semaphore,
    held: Mutex<usize>,
    held_changed: Notify,
    latency: Mutex<Duration>,
    /// Writes in flight per user (a create's `externalId`, else the path).
    writing: Mutex<HashMap<String, usize>>,
    overlaps: Mutex<usize>,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    pub base_url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (a base URL).
    pub async fn start(upstream: &str) -> Self {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            counts: Mutex::new(HashMap::new()),
            outage: Mutex::new(None),
            hold: Mutex::new(Hold::Off),
            release: Semaphore::new(0),
            held: Mutex::new(0),
            held_changed: Notify::new(),
            latency: Mutex::new(Duration::ZERO),
            writing: Mutex::new(HashMap::new()),
            overlaps: Mutex::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let base_url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, inner, task }
    }

    /// Requests seen with this method (GET, POST, PUT, PATCH, DELETE).
    pub fn count(&self, method: &str) -> usize {
        self.inner.counts.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// Requests that change the third party (POST, PUT, PATCH, DELETE).
    pub fn writes(&self) -> usize {
        ["POST", "PUT", "PATCH", "DELETE"].iter().map(|m| self.count(m)).sum()
    }

    /// Delays every request by `latency` before forwarding it.
    pub fn slow_down(&self, latency: Duration) {
        *self.inner.latency.lock().unwrap() = latency;
    }

    /// Writes that began while another write about the same user was in
    /// flight: two pushes of one sync at the same time.
    pub fn overlapping_writes(&self) -> usize {
        *self.inner.overlaps.lock().unwrap()
    }

    /// Answers every request with `status` (and `Retry-After`) until cleared.
    pub fn outage(&self, status: u16, retry_after: Option<u64>) {
        *self.inner.outage.lock().unwrap() =
            Some(Outage { status: StatusCode::from_u16(status).unwrap(), retry_after });
    }

    /// Ends the outage.
    pub fn recover(&self) {
        *self.inner.outage.lock().unwrap() = None;
    }

    /// Holds the writes that arrive from now on, where `hold` says.
    pub fn hold(&self, hold: Hold) {
        *self.inner.hold.lock().unwrap() = hold;
    }

    /// Waits (up to 20 s) until `n` requests are being held.
    pub async fn wait_until_held(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.inner.held_changed.notified();
            if *self.inner.held.lock().unwrap() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("no request was held within 20 s");
            }
        }
    }

    /// Waits (up to 20 s) until no write is in flight through the proxy: what
    /// a killed process had sent has reached the third party, or failed.
    pub async fn wait_until_no_writes_in_flight(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.inner.writing.lock().unwrap().values().any(|n| *n > 0) {
            assert!(tokio::time::Instant::now() < deadline, "writes still in flight after 20 s");
            // Bounded polling of requests the proxy forwards on its own.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops holding and lets every held request go.
    pub fn release_all(&self) {
        *self.inner.hold.lock().unwrap() = Hold::Off;
        self.inner.release.add_permits(1_000);
    }
}

async fn forward(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let method = request.method().clone();
    *inner.counts.lock().unwrap().entry(method.to_string()).or_default() += 1;
    let outage = inner.outage.lock().unwrap().clone();
    if let Some(outage) = outage {
        let mut response = (outage.status, "the third party is unavailable (injected)").into_response();
        if let Some(seconds) = outage.retry_after {
            response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
        }
        return response;
    }
    let hold = if method == axum::http::Method::GET { Hold::Off } else { *inner.hold.lock().unwrap() };
    if hold == Hold::BeforeForwarding {
        wait_for_release(&inner).await;
    }
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let headers = request.headers().clone();
    let body = to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    let latency = *inner.latency.lock().unwrap();
    let writing = (method != axum::http::Method::GET).then(|| Writing::begin(&inner, &method, &path, &body));
    tokio::time::sleep(latency).await;
    let mut upstream = inner.client.request(method, format!("{}{}", inner.upstream, path)).body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = headers.get(name) {
            upstream = upstream.header(name, value);
        }
    }
    let response = match upstream.send().await {
        Ok(response) => response,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    let status = response.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection") {
            out_headers.insert(name.clone(), value.clone());
        }
    }
    let bytes = response.bytes().await.unwrap_or_default();
    if hold == Hold::AfterForwarding {
        wait_for_release(&inner).await;
    }
    drop(writing);
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    out
}

async fn wait_for_release(inner: &Inner) {
    *inner.held.lock().unwrap() += 1;
    inner.held_changed.notify_waiters();
    let permit = inner.release.acquire().await.expect("the semaphore is never closed");
    permit.forget();
    *inner.held.lock().unwrap() -= 1;
}

/// A write in flight about one user, counted until dropped.
struct Writing {
    inner: Arc<Inner>,
    user: String,
}

impl Writing {
    fn begin(inner: &Arc<Inner>, method: &axum::http::Method, path: &str, body: &[u8]) -> Writing {
        let external_id = (method == axum::http::Method::POST)
            .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
            .flatten()
            .and_then(|user| user["externalId"].as_str().map(str::to_owned));
        let user = external_id.unwrap_or_else(|| path.to_owned());
        let mut writing = inner.writing.lock().unwrap();
        let in_flight = writing.entry(user.clone()).or_default();
        if *in_flight > 0 {
            *inner.overlaps.lock().unwrap() += 1;
        }
        *in_flight += 1;
        Writing { inner: inner.clone(), user }
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(in_flight) = self.inner.writing.lock().unwrap().get_mut(&self.user) {
            *in_flight -= 1;
        }
    }
}
