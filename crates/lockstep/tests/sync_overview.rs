//! Sync Overview and Sync Now, end to end against a real SCIM 2.0 server
//! (`scim2-server`), on SQLite and on PostgreSQL: an overview's creates,
//! updates, deactivations and errors checked against what the peer holds,
//! its validity (superseded by another admin's, expired), Sync Now applying
//! an overview and a full sync, one run at a time, and the notifications
//! of work that went to the background. The background jobs are run by
//! hand and the clock is manual, so nothing here sleeps.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::app::{TenantAdmin, TestApp};
use support::{Backend, ScimServer};

struct Setup {
    app: TestApp,
    scim: ScimServer,
    admin: TenantAdmin,
    directory: i64,
}

/// The peer holds users for e1 (stale name), e2 (up to date), e3 (whose
/// record left) and two that are not ours; the records add e4 (no user yet)
/// and e5 (no email: no valid user). Records are written but never pushed
/// by the write-sync worker: their states stay pending.
async fn setup(backend: Backend) -> Setup {
    let scim = ScimServer::start().await;
    let app = TestApp::start(backend).await;
    let admin = app.tenant("acme").await;
    // Every operation goes to the background at once: the test runs the jobs.
    let settings = app.patch("/v1/settings", &admin.token, json!({"background_after_seconds": 0})).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    let directory = app
        .integration(
            &admin.token,
            json!({
                "name": "Directory",
                "connector": {"kind": "scim", "base_url": scim.base_url, "bearer_token": scim.token},
                "field_mapping": {"email": "userName", "first_name": "name.givenName", "title": "title"},
                "eligibility": [{"field": "status", "op": "eq", "value": "active"}],
            }),
        )
        .await;
    for (external_id, user_name, given) in [
        (Some("e1"), "e1@acme.test", "Old"),
        (Some("e2"), "e2@acme.test", "Bea"),
        (Some("e3"), "e3@acme.test", "Cy"),
        (Some("stranger"), "stranger@acme.test", "Sam"),
        (None, "admin@acme.test", "Root"),
    ] {
        let mut user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name, "name": {"givenName": given}, "active": true
        });
        if let Some(id) = external_id {
            user["externalId"] = json!(id);
        }
        let created = scim
            .http()
            .post(scim.url("/Users"))
            .header("Authorization", scim.authorization())
            .header("Content-Type", "application/scim+json")
            .body(user.to_string())
            .send()
            .await
            .expect("scim2-server answers");
        assert!(created.status().is_success(), "seeding the peer: {}", created.status());
    }
    for (id, fields) in [
        ("e1", json!({"email": "e1@acme.test", "first_name": "Ada", "status": "active"})),
        ("e2", json!({"email": "e2@acme.test", "first_name": "Bea", "status": "active"})),
        ("e3", json!({"email": "e3@acme.test", "first_name": "Cy", "status": "terminated"})),
        ("e4", json!({"email": "e4@acme.test", "first_name": "Dee", "status": "active"})),
        ("e5", json!({"first_name": "Eve", "status": "active"})),
    ] {
        app.put_employee(&admin.token, id, fields).await;
    }
    Setup { app, scim, admin, directory }
}

impl Setup {
    async fn overview(&self, token: &str) -> i64 {
        let started = self.app.post(&format!("/v1/integrations/{}/overviews", self.directory), token, json!({})).await;
        assert_eq!(started.status, 202, "{}", started.text);
        assert_eq!(started.body["status"], "running");
        self.app.drain_jobs().await;
        started.body["id"].as_i64().expect("an id")
    }

    async fn changes(&self, overview: i64, query: &str) -> Value {
        let page = self.app.get(&format!("/v1/overviews/{overview}/changes?{query}"), &self.admin.token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        page.body
    }

    async fn remote(&self, external_id: &str) -> Value {
        let users = self.scim.users_with_external_id(external_id).await;
        assert_eq!(users.len(), 1, "exactly one user for {external_id}: {users:?}");
        users[0].clone()
    }
}

fn by_record(changes: &Value) -> std::collections::BTreeMap<String, Value> {
    changes["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| (c["record_id"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

async fn an_overview_lists_what_a_full_sync_would_change_and_touches_nothing(backend: Backend) {
    let s = setup(backend).await;
    let id = s.overview(&s.admin.token).await;

    let overview = s.app.get(&format!("/v1/overviews/{id}"), &s.admin.token).await;
    assert_eq!(overview.body["status"], "ready", "{}", overview.text);
    assert_eq!(overview.body["valid"], true);
    assert_eq!(overview.body["created_by"], json!(s.admin.admin_id));
    assert_eq!(
        overview.body["summary"],
        json!({"create": 1, "update": 1, "deactivate": 1, "error": 1, "unchanged": 1, "unmanaged": 2})
    );

    let changes = by_record(&s.changes(id, "").await);
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(changes["e1"]["action"], "update");
    assert_eq!(changes["e1"]["attributes"], json!([{"target": "name.givenName", "from": "Old", "to": "Ada"}]));
    assert_eq!(changes["e3"]["action"], "deactivate");
    assert_eq!(changes["e4"]["action"], "create");
    let created: Vec<&str> =
        changes["e4"]["attributes"].as_array().unwrap().iter().map(|a| a["target"].as_str().unwrap()).collect();
    assert!(created.contains(&"userName") && created.contains(&"name.givenName"), "{created:?}");
    assert_eq!(changes["e5"]["action"], "error");
    assert!(changes["e5"]["reason"].as_str().unwrap().contains("userName"), "{}", changes["e5"]);

    let updates = s.changes(id, "action=update").await;
    assert_eq!(by_record(&updates).keys().collect::<Vec<_>>(), ["e1"]);
    let first = s.changes(id, "limit=2").await;
    let rest = s.changes(id, &format!("limit=2&cursor={}", first["next_cursor"].as_str().unwrap())).await;
    assert_eq!(by_record(&first).len() + by_record(&rest).len(), 4);
    assert_eq!(rest["next_cursor"], Value::Null);

    // A preview: the third party holds what it held.
    assert_eq!(s.scim.users().await.len(), 5);
    assert_eq!(s.remote("e1").await["name"]["givenName"], "Old");
    assert_eq!(s.remote("e3").await["active"], true);
}
both_backends!(an_overview_lists_what_a_full_sync_would_change_and_touches_nothing);

async fn sync_now_applies_an_overview_and_logs_every_operation(backend: Backend) {
    let s = setup(backend).await;
    let overview = s.overview(&s.admin.token).await;
    let path = format!("/v1/integrations/{}/sync-runs", s.directory);
    let started = s.app.post(&path, &s.admin.token, json!({"overview_id": overview})).await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run = started.body["id"].as_i64().unwrap();
    // One run per integration at a time: the second names the first.
    let second = s.app.post(&path, &s.admin.token, json!({})).await;
    second.problem(409);
    assert!(second.body["detail"].as_str().unwrap().contains(&format!("sync run {run}")), "{}", second.text);
    s.app.drain_jobs().await;

    let run_body = s.app.get(&format!("/v1/sync-runs/{run}"), &s.admin.token).await.body;
    assert_eq!(run_body["status"], "partially_failed", "{run_body}");
    assert_eq!(run_body["started_by"], json!(s.admin.admin_id));
    assert_eq!(run_body["overview_id"], json!(overview));
    assert_eq!(run_body["counts"], json!({"created": 1, "updated": 1, "deactivated": 1, "unchanged": 0, "failed": 1}));
    assert!(run_body["finished_at"].is_string());

    // The third party now holds what the overview said.
    assert_eq!(s.remote("e1").await["name"]["givenName"], "Ada");
    assert_eq!(s.remote("e3").await["active"], false);
    assert_eq!(s.remote("e4").await["userName"], "e4@acme.test");
    assert_eq!(s.scim.users_with_external_id("e5").await.len(), 0);
    assert_eq!(s.scim.users_with_external_id("stranger").await[0]["active"], true, "unmanaged users are left alone");

    let log = s.app.get(&format!("/v1/sync-runs/{run}/log"), &s.admin.token).await.body;
    let entries = by_record(&log);
    assert_eq!(entries.len(), 4, "{log}");
    assert_eq!(
        (entries["e4"]["action"].as_str(), entries["e4"]["outcome"].as_str()),
        (Some("create"), Some("succeeded"))
    );
    assert_eq!(entries["e3"]["attributes"], json!({"active": false}));
    let failed = s.app.get(&format!("/v1/sync-runs/{run}/log?outcome=failed"), &s.admin.token).await.body;
    assert_eq!(by_record(&failed).keys().collect::<Vec<_>>(), ["e5"]);
    assert!(failed["data"][0]["errors"][0]["message"].as_str().unwrap().contains("userName"), "{failed}");

    // Each record's sync state ends as its push left it; e2 was not in the overview.
    for (id, status) in
        [("e1", "synced"), ("e3", "synced"), ("e4", "synced"), ("e5", "sync_failed"), ("e2", "sync_pending")]
    {
        assert_eq!(s.app.status(&s.admin.token, id, s.directory).await, json!(status), "{id}");
    }
    let runs = s.app.get(&path, &s.admin.token).await.body;
    assert_eq!(runs["data"][0]["id"], json!(run), "newest first: {runs}");
    let metrics = s.app.send(Method::GET, "/metrics", None, None).await.text;
    for line in [
        r#"lockstep_jobs_total{kind="overview",outcome="succeeded"} 1"#,
        r#"lockstep_jobs_total{kind="sync_run",outcome="succeeded"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }

    // Applied once, an overview is stale: the next one finds nothing left but the error.
    let again = s.overview(&s.admin.token).await;
    let summary = s.app.get(&format!("/v1/overviews/{again}"), &s.admin.token).await.body["summary"].clone();
    assert_eq!(summary, json!({"create": 0, "update": 0, "deactivate": 0, "error": 1, "unchanged": 3, "unmanaged": 2}));
}
both_backends!(sync_now_applies_an_overview_and_logs_every_operation);

async fn a_full_sync_now_settles_pending_records_whose_user_already_matches(backend: Backend) {
    let s = setup(backend).await;
    let path = format!("/v1/integrations/{}/sync-runs", s.directory);
    let started = s.app.post(&path, &s.admin.token, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.text);
    s.app.drain_jobs().await;
    let run = s.app.get(&format!("/v1/sync-runs/{}", started.body["id"]), &s.admin.token).await.body;
    assert_eq!(run["counts"], json!({"created": 1, "updated": 1, "deactivated": 1, "unchanged": 1, "failed": 1}));
    // e2's pending grace period ended early: the third party held its values already.
    assert_eq!(s.app.status(&s.admin.token, "e2", s.directory).await, json!("synced"));
    assert_eq!(s.remote("e1").await["name"]["givenName"], "Ada");
    // Nothing is left for the debounced worker to push twice.
    s.app.advance(301.0);
    s.app.drain().await;
    assert_eq!(s.scim.users().await.len(), 6);
}
both_backends!(a_full_sync_now_settles_pending_records_whose_user_already_matches);

async fn an_overview_is_superseded_by_another_admins_and_expires(backend: Backend) {
    let s = setup(backend).await;
    let first = s.overview(&s.admin.token).await;
    let other = s.app.post("/v1/admins", &s.admin.token, json!({"email": "bo@acme.test", "name": "Bo"})).await;
    assert_eq!(other.status, 201, "{}", other.text);
    let bo = other.body["token"].as_str().unwrap().to_owned();
    let second = s.overview(&bo).await;

    let stale = s.app.get(&format!("/v1/overviews/{first}"), &s.admin.token).await.body;
    assert_eq!((stale["valid"].clone(), stale["invalid_reason"].clone()), (json!(false), json!("superseded")));
    assert_eq!(stale["summary"], Value::Null, "no data of an invalid overview: {stale}");
    let changes = s.changes(first, "").await;
    assert_eq!(changes, json!({"valid": false, "invalid_reason": "superseded", "data": [], "next_cursor": null}));
    let apply = s
        .app
        .post(&format!("/v1/integrations/{}/sync-runs", s.directory), &s.admin.token, json!({"overview_id": first}))
        .await;
    apply.problem(409);
    assert!(apply.body["detail"].as_str().unwrap().contains("no longer valid"), "{}", apply.text);

    // The admin's notification follows its overview's validity.
    let notes = s.app.get("/v1/notifications", &s.admin.token).await.body;
    assert_eq!(notes["data"][0]["kind"], "sync_overview_ready", "{notes}");
    assert_eq!(notes["data"][0]["target"], json!({"type": "overview", "id": first}));
    assert_eq!(
        (notes["data"][0]["valid"].clone(), notes["data"][0]["invalid_reason"].clone()),
        (json!(false), json!("superseded"))
    );
    let bos = s.app.get("/v1/notifications", &bo).await.body;
    assert_eq!(bos["data"][0]["valid"], true, "{bos}");

    // Seven days on, the newest overview has expired too.
    s.app.advance(7.0 * 86_400.0);
    let expired = s.app.get(&format!("/v1/overviews/{second}"), &bo).await.body;
    assert_eq!((expired["valid"].clone(), expired["invalid_reason"].clone()), (json!(false), json!("expired")));
    let bos = s.app.get("/v1/notifications", &bo).await.body;
    assert_eq!(bos["data"][0]["invalid_reason"], "expired", "{bos}");
}
both_backends!(an_overview_is_superseded_by_another_admins_and_expires);

async fn notifications_are_the_callers_own_and_marked_seen_and_read(backend: Backend) {
    let s = setup(backend).await;
    s.overview(&s.admin.token).await;
    let started = s.app.post(&format!("/v1/integrations/{}/sync-runs", s.directory), &s.admin.token, json!({})).await;
    s.app.drain_jobs().await;
    let run = started.body["id"].as_i64().unwrap();

    let notes = s.app.get("/v1/notifications", &s.admin.token).await.body;
    assert_eq!(notes["unseen_count"], 2, "{notes}");
    let kinds: Vec<&str> = notes["data"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sync_complete", "sync_overview_ready"], "newest first");
    assert_eq!(notes["data"][0]["target"], json!({"type": "sync_run", "id": run}));
    assert_eq!(notes["data"][0]["valid"], true);
    let complete = notes["data"][0]["id"].as_i64().unwrap();

    let other = s.app.post("/v1/admins", &s.admin.token, json!({"email": "bo@acme.test", "name": "Bo"})).await;
    let bo = other.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.app.get("/v1/notifications", &bo).await.body["data"], json!([]));
    s.app.send(Method::POST, &format!("/v1/notifications/{complete}/read"), Some(&bo), None).await.problem(404);

    let read =
        s.app.send(Method::POST, &format!("/v1/notifications/{complete}/read"), Some(&s.admin.token), None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.body["read_at"].is_string() && read.body["seen_at"].is_string(), "read implies seen: {}", read.text);
    let seen_at = read.body["seen_at"].clone();
    s.app.advance(10.0);
    let again =
        s.app.send(Method::POST, &format!("/v1/notifications/{complete}/seen"), Some(&s.admin.token), None).await;
    assert_eq!(again.body["seen_at"], seen_at, "the first time is kept");
    assert_eq!(s.app.get("/v1/notifications", &s.admin.token).await.body["unseen_count"], 1);
    let all = s.app.send(Method::POST, "/v1/notifications/seen", Some(&s.admin.token), None).await;
    assert_eq!(all.body, json!({"marked": 1, "unseen_count": 0}), "{}", all.text);
}
both_backends!(notifications_are_the_callers_own_and_marked_seen_and_read);

async fn an_integration_whose_third_party_cannot_list_users_is_refused(backend: Backend) {
    let s = setup(backend).await;
    let nowhere = s
        .app
        .integration(
            &s.admin.token,
            json!({
                "name": "No listing",
                "connector": {"kind": "scim", "base_url": s.scim.url("/no/such/path"), "bearer_token": s.scim.token},
                "field_mapping": {"email": "userName"},
            }),
        )
        .await;
    for path in [format!("/v1/integrations/{nowhere}/overviews"), format!("/v1/integrations/{nowhere}/sync-runs")] {
        let refused = s.app.post(&path, &s.admin.token, json!({})).await;
        refused.problem(422);
        assert!(refused.body["detail"].as_str().unwrap().contains("cannot list users"), "{}", refused.text);
    }
    assert_eq!(
        s.app.get(&format!("/v1/integrations/{nowhere}/sync-runs"), &s.admin.token).await.body["data"],
        json!([])
    );
    let bad = s.app.patch("/v1/settings", &s.admin.token, json!({"overview_validity_seconds": 1})).await;
    bad.problem(422);
    assert_eq!(bad.error_fields(), ["overview_validity_seconds"]);
    let unchanged = s.app.get("/v1/settings", &s.admin.token).await.body;
    assert_eq!(unchanged["overview_validity_seconds"], 604_800, "nothing half-written: {unchanged}");
}
both_backends!(an_integration_whose_third_party_cannot_list_users_is_refused);
