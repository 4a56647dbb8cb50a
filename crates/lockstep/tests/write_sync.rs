//! Employee Sync, end to end: records written through the API, pushed by the
//! write-sync worker to a real SCIM 2.0 server (`scim2-server`), on SQLite and
//! on PostgreSQL. A fault proxy in front of the server counts writes and
//! injects outages; the clock is manual, so grace periods pass without sleeping.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::app::TestApp;
use support::proxy::{FaultProxy, Hold};
use support::{Backend, ScimServer};

const GRACE: f64 = 300.0;

/// A tenant with one SCIM integration behind a fault proxy.
struct Setup {
    app: TestApp,
    scim: ScimServer,
    proxy: FaultProxy,
    token: String,
    directory: i64,
}

async fn setup(backend: Backend, extra: Value) -> Setup {
    let scim = ScimServer::start().await;
    let proxy = FaultProxy::start(&scim.base_url).await;
    let app = TestApp::start(backend).await;
    let token = app.tenant("acme").await.token;
    let mut spec = json!({
        "name": "Directory",
        "record_type": "employee",
        "connector": {"kind": "scim", "base_url": proxy.base_url, "bearer_token": scim.token},
        "field_mapping": {
            "email": "userName",
            "first_name": "name.givenName",
            "last_name": "name.familyName",
            "work_email": "emails[type eq \"work\"].value",
            "department": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        },
        "grace_period_seconds": GRACE,
        "retry": {"max_attempts": 4, "initial_backoff_seconds": 1, "max_backoff_seconds": 8}
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let directory = app.integration(&token, spec).await;
    Setup { app, scim, proxy, token, directory }
}

fn ada() -> Value {
    json!({"email": "ada@acme.test", "first_name": "Ada", "last_name": "Lovelace", "work_email": "ada@acme.test", "department": "Engineering", "salary": 100, "status": "active"})
}

impl Setup {
    async fn status(&self, id: &str) -> Value {
        self.app.status(&self.token, id, self.directory).await
    }

    async fn sync_entry(&self, id: &str) -> Value {
        let record = self.app.employee(&self.token, id).await;
        record["sync"]["integrations"][0].clone()
    }

    /// Writes, lets the grace period pass and drains: the record is synced.
    async fn synced(&self, id: &str, fields: Value) {
        self.app.put_employee(&self.token, id, fields).await;
        self.app.advance(GRACE + 1.0);
        self.app.drain().await;
        assert_eq!(self.status(id).await, json!("synced"));
    }

    async fn remote(&self, id: &str) -> Value {
        let users = self.scim.users_with_external_id(id).await;
        assert_eq!(users.len(), 1, "exactly one user for {id}: {users:?}");
        users[0].clone()
    }
}

async fn a_new_employee_is_pending_then_synced_with_every_mapped_field(backend: Backend) {
    let s = setup(backend, json!({})).await;
    let record = s.app.put_employee(&s.token, "e1", ada()).await;
    assert_eq!(record["sync"]["badge"][0]["status"], json!("sync_pending"));
    let entry = s.sync_entry("e1").await;
    assert_eq!(entry["status"], json!("sync_pending"));
    assert_eq!(entry["sync_starts_at"], json!("2026-03-02T09:05:00Z"));
    assert_eq!(record["sync"]["fields"]["email"], json!([s.directory]));
    assert!(record["sync"]["fields"].get("salary").is_none(), "salary is not synced");

    s.app.advance(GRACE - 1.0);
    assert_eq!(s.app.drain().await, 0, "nothing is due inside the grace period");
    s.app.advance(2.0);
    assert_eq!(s.app.drain().await, 1);
    assert_eq!(s.status("e1").await, json!("synced"));
    let user = s.remote("e1").await;
    assert_eq!(user["userName"], json!("ada@acme.test"));
    assert_eq!(user["name"]["givenName"], json!("Ada"));
    assert_eq!(user["emails"][0], json!({"type": "work", "value": "ada@acme.test"}));
    assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], json!("Engineering"));
    assert_eq!(user["active"], json!(true));
    assert_eq!(s.sync_entry("e1").await["last_synced_at"], json!("2026-03-02T09:05:01Z"));
}
both_backends!(a_new_employee_is_pending_then_synced_with_every_mapped_field);

async fn an_unmapped_change_writes_nothing(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.synced("e1", ada()).await;
    let writes = s.proxy.writes();
    let mut changed = ada();
    changed["salary"] = json!(200);
    s.app.put_employee(&s.token, "e1", changed).await;
    assert_eq!(s.status("e1").await, json!("synced"), "an unmapped change leaves the state alone");
    s.app.advance(GRACE + 1.0);
    assert_eq!(s.app.drain().await, 0);
    assert_eq!(s.proxy.writes(), writes);
}
both_backends!(an_unmapped_change_writes_nothing);

async fn ten_edits_inside_the_grace_period_push_once_with_the_final_values(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.synced("e1", ada()).await;
    let writes = s.proxy.writes();
    for n in 1..=10 {
        let mut fields = ada();
        fields["first_name"] = json!(format!("Ada {n}"));
        s.app.put_employee(&s.token, "e1", fields).await;
        s.app.advance(20.0);
        assert_eq!(s.app.drain().await, 0, "edit {n}: each relevant change restarts the grace period");
    }
    // The last edit was 20 s ago: its grace period ends 280 s from now.
    assert_eq!(s.sync_entry("e1").await["sync_starts_at"], json!("2026-03-02T09:13:01Z"));
    s.app.advance(GRACE - 20.0 + 1.0);
    assert_eq!(s.app.drain().await, 1);
    assert_eq!(s.proxy.writes(), writes + 1, "exactly one push for the quiet period");
    assert_eq!(s.remote("e1").await["name"]["givenName"], json!("Ada 10"));
}
both_backends!(ten_edits_inside_the_grace_period_push_once_with_the_final_values);

async fn a_stream_of_edits_is_pushed_after_the_max_wait(backend: Backend) {
    let s = setup(backend, json!({"max_wait_seconds": 600})).await;
    s.synced("e1", ada()).await;
    for n in 1..=12 {
        let mut fields = ada();
        fields["first_name"] = json!(format!("Ada {n}"));
        s.app.put_employee(&s.token, "e1", fields).await;
        s.app.advance(60.0);
        s.app.drain().await;
    }
    assert_eq!(s.remote("e1").await["name"]["givenName"], json!("Ada 10"), "pushed at the max wait, not starved");
}
both_backends!(a_stream_of_edits_is_pushed_after_the_max_wait);

async fn a_change_during_syncing_schedules_a_new_grace_period(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.app.put_employee(&s.token, "e1", ada()).await;
    s.app.advance(GRACE + 1.0);
    s.proxy.hold(Hold::BeforeForwarding);
    let worker = s.app.worker.clone();
    let step = tokio::spawn(async move { worker.run_once().await });
    s.proxy.wait_until_held(1).await;
    assert_eq!(s.status("e1").await, json!("syncing"));
    let mut changed = ada();
    changed["last_name"] = json!("King");
    s.app.put_employee(&s.token, "e1", changed).await;
    assert_eq!(s.status("e1").await, json!("syncing"));
    s.proxy.release_all();
    step.await.unwrap().unwrap();
    let entry = s.sync_entry("e1").await;
    assert_eq!(entry["status"], json!("sync_pending"), "the change is not lost: {entry}");
    s.app.advance(GRACE + 1.0);
    s.app.drain().await;
    assert_eq!(s.status("e1").await, json!("synced"));
    assert_eq!(s.remote("e1").await["name"]["familyName"], json!("King"));
}
both_backends!(a_change_during_syncing_schedules_a_new_grace_period);

async fn a_rejected_value_fails_with_the_third_partys_error_until_fixed(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.synced("e1", ada()).await;
    let mut twin = ada();
    twin["first_name"] = json!("Twin");
    s.app.put_employee(&s.token, "e2", twin.clone()).await;
    s.app.advance(GRACE + 1.0);
    s.app.drain().await;
    let entry = s.sync_entry("e2").await;
    assert_eq!(entry["status"], json!("sync_failed"), "{entry}");
    assert_eq!(entry["errors"][0]["code"], json!("uniqueness"));
    assert!(entry["errors"][0]["message"].as_str().unwrap().contains("409"), "{entry}");
    assert_eq!(entry["attempts"], json!(1), "a validation error is not retried");
    let record = s.app.employee(&s.token, "e2").await;
    assert_eq!(record["sync"]["badge"][0]["status"], json!("sync_failed"));

    twin["email"] = json!("twin@acme.test");
    s.synced("e2", twin).await;
    assert_eq!(s.remote("e2").await["userName"], json!("twin@acme.test"));
}
both_backends!(a_rejected_value_fails_with_the_third_partys_error_until_fixed);

async fn a_third_party_outage_is_retried_until_it_recovers(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.proxy.outage(503, None);
    s.app.put_employee(&s.token, "e1", ada()).await;
    s.app.advance(GRACE + 1.0);
    assert_eq!(s.app.drain().await, 1);
    let entry = s.sync_entry("e1").await;
    assert_eq!(entry["status"], json!("syncing"), "a transient failure is retried, not failed: {entry}");
    assert_eq!(entry["errors"][0]["code"], json!("503"));
    s.app.advance(1.1);
    assert_eq!(s.app.drain().await, 1, "the first retry comes after the first backoff");
    s.proxy.recover();
    s.app.advance(2.1);
    assert_eq!(s.app.drain().await, 1);
    let entry = s.sync_entry("e1").await;
    assert_eq!(entry["status"], json!("synced"), "{entry}");
    assert_eq!(entry["attempts"], json!(3));
    assert_eq!(entry["errors"], json!([]));
    s.remote("e1").await;
}
both_backends!(a_third_party_outage_is_retried_until_it_recovers);

async fn throttling_honours_retry_after(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.proxy.outage(429, Some(120));
    s.app.put_employee(&s.token, "e1", ada()).await;
    s.app.advance(GRACE + 1.0);
    s.app.drain().await;
    s.proxy.recover();
    s.app.advance(100.0);
    assert_eq!(s.app.drain().await, 0, "no retry before Retry-After");
    s.app.advance(21.0);
    assert_eq!(s.app.drain().await, 1);
    assert_eq!(s.status("e1").await, json!("synced"));
}
both_backends!(throttling_honours_retry_after);

async fn retries_run_out_then_an_explicit_retry_syncs(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.proxy.outage(503, None);
    s.app.put_employee(&s.token, "e1", ada()).await;
    s.app.advance(GRACE + 1.0);
    for _ in 0..4 {
        s.app.drain().await;
        s.app.advance(10.0);
    }
    let entry = s.sync_entry("e1").await;
    assert_eq!(entry["status"], json!("sync_failed"), "{entry}");
    assert_eq!(entry["attempts"], json!(4));
    s.proxy.recover();
    let (status, body) = s.app.call(&s.token, Method::POST, "/v1/records/employee/e1/retry", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.status("e1").await, json!("sync_pending"));
    s.app.drain().await;
    assert_eq!(s.status("e1").await, json!("synced"));
}
both_backends!(retries_run_out_then_an_explicit_retry_syncs);

async fn ineligible_and_deleted_employees_are_deactivated(backend: Backend) {
    let eligibility = json!({"eligibility": [{"field": "status", "op": "eq", "value": "active"}]});
    let s = setup(backend, eligibility).await;
    s.synced("e1", ada()).await;
    let mut grace = ada();
    grace["email"] = json!("grace@acme.test");
    s.synced("e2", grace).await;

    let mut leaver = ada();
    leaver["status"] = json!("terminated");
    s.app.put_employee(&s.token, "e1", leaver).await;
    assert_eq!(s.status("e1").await, json!("sync_pending"), "an eligibility flip is relevant");
    let (status, _) = s.app.call(&s.token, Method::DELETE, "/v1/records/employee/e2", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.app.advance(GRACE + 1.0);
    assert_eq!(s.app.drain().await, 2);
    assert_eq!(s.remote("e1").await["active"], json!(false));
    assert_eq!(s.remote("e2").await["active"], json!(false));

    // Never eligible: never sent.
    let mut contractor = ada();
    contractor["email"] = json!("c@acme.test");
    contractor["status"] = json!("contractor");
    let record = s.app.put_employee(&s.token, "e3", contractor).await;
    assert_eq!(record["sync"]["integrations"], json!([]));
    s.app.advance(GRACE + 1.0);
    assert_eq!(s.app.drain().await, 0);
    assert!(s.scim.users_with_external_id("e3").await.is_empty());
}
both_backends!(ineligible_and_deleted_employees_are_deactivated);

async fn another_tenants_token_answers_404(backend: Backend) {
    let s = setup(backend, json!({})).await;
    s.app.put_employee(&s.token, "e1", ada()).await;
    let other = s.app.tenant("globex").await.token;
    let (status, body) = s.app.call(&other, Method::GET, "/v1/records/employee/e1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = s.app.call(&other, Method::GET, &format!("/v1/integrations/{}", s.directory), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.app.call(&other, Method::DELETE, "/v1/records/employee/e1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(s.app.employee(&s.token, "e1").await["fields"]["email"].is_string(), "the owner still sees it");
}
both_backends!(another_tenants_token_answers_404);
