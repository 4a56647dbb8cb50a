//! The sandbox third party: an in-memory SCIM 2.0 (RFC 7643/7644) directory of
//! `/Users` that `lockstep demo` syncs to, tests aim faults at and the push
//! benchmark measures against.
//!
//! It serves on any listener ([`Sandbox::start`]): `lockstep sandbox` runs it
//! on its own, the demo and the benchmark inside their process, tests on port
//! 0. It is strict where a real directory is (schema-checked writes, unique
//! `userName`, ETags, SCIM errors everywhere) so a connector that passes here
//! has met the standard, which the app's `tests/sandbox_compliance.rs` holds
//! it to with the independent checker scim2-tester. It is its own crate
//! because it shares nothing with the app but the standard: the app talks to
//! it over HTTP like to any third party.
//!
//! The map: `schema` is the User schema, published by `discovery` and
//! enforced by `validate`; `users` holds the `/Users` handlers over the
//! in-memory `directory` and its `index` (Users by `id`, `externalId` and
//! `userName`, so a look-up costs the same among a million Users as among
//! ten); `filter`, `patch`, `path` and `projection` are the
//! RFC's small languages; `faults` holds the switches (latency, outage,
//! `fail_next`, reject rules) and counters, which `control` applies around
//! every request and exposes over HTTP at `/_sandbox/…`.

mod control;
mod directory;
mod discovery;
mod error;
mod faults;
mod filter;
mod index;
mod patch;
mod path;
mod projection;
mod schema;
mod users;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{FaultSettings, Faults, RejectRule, RequestStats};

use directory::Directory;

/// How an in-process sandbox starts.
#[derive(Clone)]
pub struct SandboxOptions {
    /// Shown in the ResourceType description and in logs.
    pub name: String,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// The faults switched on from the start.
    pub faults: FaultSettings,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions { name: "Sandbox".into(), bearer_token: None, faults: FaultSettings::default() }
    }
}

impl std::fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("name", &self.name)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("faults", &self.faults)
            .finish()
    }
}

/// The state every handler shares.
pub(crate) struct Shared {
    name: String,
    base_url: String,
    bearer_token: Option<String>,
    directory: Mutex<Directory>,
    faults: Faults,
    stats: Mutex<RequestStats>,
}

impl Shared {
    /// The directory, locked. Handlers never hold it across an `.await`.
    fn directory(&self) -> MutexGuard<'_, Directory> {
        // Writes validate before they mutate, so a poisoned lock holds
        // consistent data; keep serving rather than fail every request.
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> RequestStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, update: impl FnOnce(&mut RequestStats)) {
        update(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

fn router(shared: Arc<Shared>) -> Router {
    use control::method_not_allowed as not_allowed;
    use discovery as d;
    Router::new()
        .route("/ServiceProviderConfig", get(d::service_provider_config).fallback(not_allowed))
        .route("/ResourceTypes", get(d::resource_types).fallback(not_allowed))
        .route("/ResourceTypes/{id}", get(d::resource_type).fallback(not_allowed))
        .route("/Schemas", get(d::all_schemas).fallback(not_allowed))
        .route("/Schemas/{id}", get(d::schema_by_id).fallback(not_allowed))
        .route("/Users", get(users::list).post(users::create).fallback(not_allowed))
        .route("/Users/.search", post(users::search).fallback(not_allowed))
        .route(
            "/Users/{id}",
            get(users::get).put(users::replace).patch(users::modify).delete(users::delete).fallback(not_allowed),
        )
        .route("/.search", post(users::search).fallback(not_allowed))
        .route("/_sandbox", get(control::overview).fallback(not_allowed))
        .route("/_sandbox/faults", get(control::get_faults).put(control::put_faults).fallback(not_allowed))
        .route("/_sandbox/stats", get(control::get_stats).delete(control::reset_stats).fallback(not_allowed))
        // A seed is large by design (a few hundred bytes per User).
        .route(
            "/_sandbox/users",
            post(control::seed_users).layer(DefaultBodyLimit::max(control::SEED_BODY_LIMIT)).fallback(not_allowed),
        )
        .fallback(control::not_found)
        // Layers run outside-in from the last added: faults and logging see
        // every request, then the token gate.
        .layer(axum::middleware::from_fn_with_state(shared.clone(), control::require_token))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), control::faults_and_accounting))
        .with_state(shared)
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Serves a new, empty sandbox on `listener` until the handle is shut
    /// down or dropped.
    pub async fn start(listener: TcpListener, options: SandboxOptions) -> SandboxHandle {
        let local_addr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        // A wildcard bind is reached through loopback; that is the URL to print.
        let host = if local_addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], local_addr.port()))
        } else {
            local_addr
        };
        let base_url = format!("http://{host}");
        let shared = Arc::new(Shared {
            name: options.name,
            base_url: base_url.clone(),
            bearer_token: options.bearer_token.filter(|t| !t.is_empty()),
            directory: Mutex::new(Directory::new(base_url.clone())),
            faults: Faults::new(options.faults),
            stats: Mutex::new(RequestStats::default()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(shared.clone());
        let name = shared.name.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(sandbox = %name, %error, "sandbox server failed");
            }
        });
        SandboxHandle { base_url, local_addr, shared, stop: Some(stop), task: Some(task) }
    }
}

/// A running sandbox. Stops when dropped or on [`SandboxHandle::shutdown`].
pub struct SandboxHandle {
    base_url: String,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:<port>`, the SCIM base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live fault switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every User as a SCIM representation, in creation order.
    pub fn users(&self) -> Vec<Value> {
        let directory = self.shared.directory();
        directory.all().map(|user| directory.render(user)).collect()
    }

    /// How many Users the directory holds.
    pub fn user_count(&self) -> usize {
        self.shared.directory().len()
    }

    /// The User with this `userName` (case-insensitive, as SCIM compares
    /// it), if any.
    pub fn user_by_user_name(&self, user_name: &str) -> Option<Value> {
        let directory = self.shared.directory();
        directory.by_user_name(user_name).map(|user| directory.render(user))
    }

    /// Counts of the requests received on `/Users` and `/.search`.
    pub fn stats(&self) -> RequestStats {
        self.shared.stats()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.shared.record(|stats| *stats = RequestStats::default());
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
