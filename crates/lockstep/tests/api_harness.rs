//! The harness of the `api_*` black-box tests: a real Lockstep (SQLite in a
//! temp dir, a manual clock, workers off) served on 127.0.0.1:0 and driven
//! with reqwest. Each `api_*.rs` file includes it with
//! `#[path = "api_harness.rs"] mod harness;`; built on its own it has no tests.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use lockstep::clock::ManualClock;
use lockstep::config::Config;
use lockstep::engine::write_sync::WriteSyncWorker;
use lockstep::App;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const OPERATOR_TOKEN: &str = "operator-token-for-tests";

/// The time every test's clock starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

/// A running server; stopped when dropped.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub worker: WriteSyncWorker,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

/// An answer: status, headers and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts a problem document of `status` and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "{}", self.text);
        assert_eq!(self.body["status"], status, "{}", self.text);
        for key in ["type", "title", "detail"] {
            assert!(self.body[key].is_string(), "problem without {key}: {}", self.text);
        }
        &self.body
    }

    /// The `field`s of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }
}

/// A tenant created through the API, with its first admin's token.
#[derive(Debug, Clone)]
pub struct TenantAdmin {
    pub tenant_id: i64,
    pub admin_id: i64,
    pub token: String,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the test defaults, adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults();
        config.database_url = format!("sqlite://{}/l.db", dir.path().display());
        config.operator_token = Some(OPERATOR_TOKEN.into());
        config.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()];
        config.worker.enabled = false;
        adjust(&mut config);
        let clock = ManualClock::new(t0());
        let app = App::build_with_clock(config, Arc::new(clock.clone())).await.unwrap();
        let worker = app.write_sync_worker();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move { app.run(listener, stop).await.unwrap() });
        Self { base, client: reqwest::Client::new(), clock, worker, shutdown, _dir: dir }
    }

    /// Sends a request; `body` as JSON when given.
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a tenant (and its first admin) with the operator token.
    pub async fn tenant(&self, name: &str) -> TenantAdmin {
        let body = json!({"name": name, "admin": {"email": format!("admin@{name}.test"), "name": "Ada"}});
        let answer = self.post("/v1/tenants", OPERATOR_TOKEN, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        TenantAdmin {
            tenant_id: answer.body["tenant"]["id"].as_i64().unwrap(),
            admin_id: answer.body["admin"]["id"].as_i64().unwrap(),
            token: answer.body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an integration from `body` and returns its id.
    pub async fn integration(&self, token: &str, body: Value) -> i64 {
        let answer = self.post("/v1/integrations", token, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body["id"].as_i64().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, headers, text, body }
}

/// A SCIM integration body that syncs `mapping`, pointing at a closed local port.
pub fn scim_integration(name: &str, mapping: Value) -> Value {
    json!({
        "name": name,
        "connector": {"kind": "scim", "base_url": "http://127.0.0.1:9/scim", "bearer_token": "scim-secret-token-123"},
        "field_mapping": mapping,
    })
}

/// Parses an RFC 3339 time from a JSON value.
pub fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}
