//! A Lockstep app for black-box tests: built like `lockstep serve` builds it,
//! on the chosen backend, served on 127.0.0.1 port 0, on a manual clock, with
//! the background worker off so a test drives sync steps itself
//! (`app.worker.run_once()`), never sleeping for a grace period.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use lockstep::clock::ManualClock;
use lockstep::config::Config;
use lockstep::engine::jobs::JobWorker;
use lockstep::engine::write_sync::WriteSyncWorker;
use lockstep::secrets::SecretKey;
use lockstep::App;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::Backend;

/// The operator token every test app is configured with.
pub const OPERATOR_TOKEN: &str = "operator-token-for-tests-only";

/// The secret key every test app on PostgreSQL encrypts with (apps on
/// SQLite make and share the key file beside their database), so that
/// apps sharing one database share the key, as production processes must.
pub const TEST_SECRET_KEY: &str = "bG9ja3N0ZXAgdGVzdCBrZXksIG5ldmVyIGluIHByb2Q=";

/// The time every test app's clock starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A tenant created through the API, with its first admin's token.
#[derive(Debug, Clone)]
pub struct TenantAdmin {
    pub tenant_id: i64,
    pub admin_id: i64,
    pub token: String,
}

/// A running app.
pub struct TestApp {
    pub base: String,
    /// The store the app runs on (for fault injection beside it).
    pub database_url: String,
    pub clock: ManualClock,
    pub worker: WriteSyncWorker,
    /// The background jobs (overviews, Sync Now runs, emails), run by hand.
    pub jobs: JobWorker,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Builds and serves an app on `backend` with the test defaults.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// As [`TestApp::start`], with the config adjusted by `adjust` first.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::defaults();
        config.database_url = backend.database_url(dir.path()).await;
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.operator_token = Some(OPERATOR_TOKEN.into());
        config.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()];
        config.worker.enabled = false;
        config.worker.lease_seconds = 30.0;
        if backend == Backend::Postgres {
            config.secret_keys = vec![SecretKey::parse(TEST_SECRET_KEY).unwrap()];
        }
        adjust(&mut config);
        let database_url = config.database_url.clone();
        let clock = ManualClock::new(t0());
        let app = App::build_with_clock(config, Arc::new(clock.clone())).await.expect("the app builds");
        let worker = app.write_sync_worker();
        let jobs = app.job_worker();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move { app.run(listener, stop).await.expect("the app runs") });
        Self { base, database_url, clock, worker, jobs, client: reqwest::Client::new(), shutdown, _dir: dir }
    }

    /// Sends a request with a bearer token; answers the status and the JSON body (null when empty).
    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let answer = self.send(method, path, Some(token), body).await;
        (answer.status, answer.body)
    }

    /// Creates a tenant (and its first admin) with the operator token.
    pub async fn tenant(&self, name: &str) -> TenantAdmin {
        let body = json!({"name": name, "admin": {"email": format!("admin@{name}.test"), "name": "Admin"}});
        let answer = self.send(Method::POST, "/v1/tenants", Some(OPERATOR_TOKEN), Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        TenantAdmin {
            tenant_id: answer.body["tenant"]["id"].as_i64().unwrap(),
            admin_id: answer.body["admin"]["id"].as_i64().unwrap(),
            token: answer.body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an integration; answers its id.
    pub async fn integration(&self, token: &str, spec: Value) -> i64 {
        let answer = self.send(Method::POST, "/v1/integrations", Some(token), Some(spec)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body["id"].as_i64().expect("an id")
    }

    /// PUTs an employee's fields; asserts success.
    pub async fn put_employee(&self, token: &str, id: &str, fields: Value) -> Value {
        let (status, body) = self.call(token, Method::PUT, &format!("/v1/records/employee/{id}"), Some(fields)).await;
        assert!(status.is_success(), "PUT {id}: {status} {body}");
        body
    }

    /// GETs an employee; asserts success.
    pub async fn employee(&self, token: &str, id: &str) -> Value {
        let (status, body) = self.call(token, Method::GET, &format!("/v1/records/employee/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The status of an employee in one integration (`null` when it has no state there).
    pub async fn status(&self, token: &str, id: &str, integration_id: i64) -> Value {
        let record = self.employee(token, id).await;
        record["sync"]["integrations"]
            .as_array()
            .and_then(|list| list.iter().find(|i| i["integration_id"] == json!(integration_id)))
            .map(|i| i["status"].clone())
            .unwrap_or(Value::Null)
    }

    /// Moves the clock forward by `seconds` (fractions allowed).
    pub fn advance(&self, seconds: f64) {
        self.clock.advance(chrono::Duration::milliseconds((seconds * 1000.0) as i64));
    }

    /// Runs the due background jobs until none is due; answers how many ran.
    pub async fn drain_jobs(&self) -> usize {
        self.jobs.drain().await.expect("the job step succeeds")
    }

    /// Runs worker steps until nothing is due; answers how many syncs ran.
    pub async fn drain(&self) -> usize {
        self.worker.drain().await.expect("the worker step succeeds")
    }
}
