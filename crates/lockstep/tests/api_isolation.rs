//! Tenants are isolated on every route, on both stores.
//!
//! The table is the OpenAPI document itself: the test reads `/openapi.json`
//! and runs [`probe`] for each of its operations, and fails for an
//! operation that has no entry in `probe` (so a route added later must say
//! how it keeps tenants apart) and for an entry of [`PROBED`] the document
//! no longer has.
//! Tenant B uses tenant A's ids everywhere an id goes: an id in a path
//! answers 404, a list shows nothing of A's, a cursor of A's list is
//! refused, an id of A's in a body is a 422 naming it (as an id that does
//! not exist), and a write that names A's key makes B's own resource. Last,
//! everything of A's is read back unchanged, and A's tokens still sign in.
//! The console is probed with `POST /v1/console/sessions`: B's console
//! session gets a 404 page for every console page, action and live stream
//! named with A's ids, and B's console lists show nothing of A's.

mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use support::api::scim_integration;
use support::app::{TenantAdmin, TestApp};
use support::console::ConsoleClient;
use support::Backend;

/// What tenant A owns, by the ids B will try.
struct TenantA {
    admin: TenantAdmin,
    integration_id: i64,
    /// The `next_cursor` of A's first page of employees.
    cursor: String,
    /// A's tokens, by id and value: its admin's first and one made after.
    tokens: Vec<(i64, String)>,
    overview_id: i64,
    sync_run_id: i64,
    /// A's notifications (of the overview and the run, which went to the background).
    notifications: Vec<i64>,
}

const RECORDS: [&str; 3] = ["e-1", "e-2", "batch"];

/// The operations [`probe`] has an entry for.
const PROBED: [(&str, &str); 41] = [
    ("post", "/v1/tenants"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/me"),
    ("get", "/v1/admins"),
    ("post", "/v1/admins"),
    ("get", "/v1/tokens"),
    ("post", "/v1/tokens"),
    ("get", "/v1/tokens/{id}"),
    ("post", "/v1/tokens/{id}/revoke"),
    ("get", "/v1/integrations"),
    ("post", "/v1/integrations"),
    ("get", "/v1/integrations/{id}"),
    ("patch", "/v1/integrations/{id}"),
    ("delete", "/v1/integrations/{id}"),
    ("get", "/v1/records/{type}"),
    ("get", "/v1/records/{type}/{id}"),
    ("put", "/v1/records/{type}/{id}"),
    ("patch", "/v1/records/{type}/{id}"),
    ("delete", "/v1/records/{type}/{id}"),
    ("post", "/v1/records/{type}/{id}/retry"),
    ("post", "/v1/records/{type}/batch"),
    ("get", "/v1/records/{type}/batch"),
    ("put", "/v1/records/{type}/batch"),
    ("patch", "/v1/records/{type}/batch"),
    ("delete", "/v1/records/{type}/batch"),
    ("post", "/v1/integrations/{id}/overviews"),
    ("post", "/v1/integrations/{id}/sync-runs"),
    ("get", "/v1/integrations/{id}/sync-runs"),
    ("get", "/v1/overviews/{id}"),
    ("get", "/v1/overviews/{id}/changes"),
    ("get", "/v1/sync-runs/{id}"),
    ("get", "/v1/sync-runs/{id}/log"),
    ("get", "/v1/notifications"),
    ("post", "/v1/notifications/seen"),
    ("post", "/v1/notifications/{id}/seen"),
    ("post", "/v1/notifications/{id}/read"),
    ("get", "/v1/settings"),
    ("patch", "/v1/settings"),
    ("post", "/v1/console/sessions"),
];

async fn tenant_a(app: &TestApp) -> TenantA {
    let admin = app.tenant("alpha").await;
    let integration_id =
        app.integration(&admin.token, scim_integration("Directory", json!({"email": "userName"}))).await;
    for id in RECORDS {
        app.put_employee(&admin.token, id, json!({"email": format!("{id}@alpha.test")})).await;
    }
    let page = app.get("/v1/records/employee?limit=1", &admin.token).await;
    let cursor = page.body["next_cursor"].as_str().expect("a second page").to_owned();
    let first = app.get("/v1/tokens", &admin.token).await.body["data"][0]["id"].as_i64().expect("the first token");
    let made = app.post("/v1/tokens", &admin.token, json!({"label": "CI", "expires_in_seconds": 3600})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let second = (made.body["id"].as_i64().expect("an id"), made.body["token"].as_str().expect("a value").to_owned());
    let tokens = vec![(first, admin.token.clone()), second];
    // An overview and a Sync Now that go to the background; A's third party
    // is unreachable, so both end failed once their attempts run out, and
    // A is notified of each.
    let settings = app.patch("/v1/settings", &admin.token, json!({"background_after_seconds": 0})).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    let overview = app.post(&format!("/v1/integrations/{integration_id}/overviews"), &admin.token, json!({})).await;
    assert_eq!(overview.status, 202, "{}", overview.text);
    let run = app.post(&format!("/v1/integrations/{integration_id}/sync-runs"), &admin.token, json!({})).await;
    assert_eq!(run.status, 202, "{}", run.text);
    // Retries wait 4, 8, 16 and 32 s (less jitter); A's second token lasts an hour.
    for _ in 0..8 {
        app.drain_jobs().await;
        app.advance(100.0);
    }
    let notes = app.get("/v1/notifications", &admin.token).await;
    let notifications: Vec<i64> = ids(&notes.body, "/id").iter().filter_map(Value::as_i64).collect();
    assert_eq!(notifications.len(), 2, "{}", notes.text);
    TenantA {
        admin,
        integration_id,
        cursor,
        tokens,
        overview_id: overview.body["id"].as_i64().expect("an overview id"),
        sync_run_id: run.body["id"].as_i64().expect("a run id"),
        notifications,
    }
}

/// Everything of A's as A reads it, to compare before and after.
async fn snapshot(app: &TestApp, a: &TenantA) -> Value {
    let token = &a.admin.token;
    let mut records = Vec::new();
    for id in RECORDS {
        let record = app.get(&format!("/v1/records/employee/{id}"), token).await;
        records.push(json!({"fields": record.body["fields"], "version": record.body["version"]}));
    }
    json!({
        "admins": app.get("/v1/admins", token).await.body,
        "tokens": app.get("/v1/tokens", token).await.body,
        "integration": app.get(&format!("/v1/integrations/{}", a.integration_id), token).await.body,
        "records": records,
        "overview": app.get(&format!("/v1/overviews/{}", a.overview_id), token).await.body,
        "sync_run": app.get(&format!("/v1/sync-runs/{}", a.sync_run_id), token).await.body,
        "log": app.get(&format!("/v1/sync-runs/{}/log", a.sync_run_id), token).await.body,
        "notifications": app.get("/v1/notifications", token).await.body,
        "settings": app.get("/v1/settings", token).await.body,
    })
}

fn ids(list: &Value, pointer: &str) -> Vec<Value> {
    list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item.pointer(pointer).cloned().unwrap_or_default())
        .collect()
}

/// Tenant B's requests to one operation; false when the operation has no entry.
async fn probe(app: &TestApp, a: &TenantA, b: &TenantAdmin, method: &str, template: &str) -> bool {
    let token = &b.token;
    let integration = format!("/v1/integrations/{}", a.integration_id);
    match (method, template) {
        // The operator's route and the public ones hold no tenant's data.
        ("post", "/v1/tenants") | ("get", "/healthz") | ("get", "/metrics") | ("get", "/openapi.json") => {}
        ("get", "/v1/me") => {
            let me = app.get("/v1/me", token).await;
            assert_eq!(me.body["tenant"]["id"], json!(b.tenant_id), "{}", me.text);
        }
        ("get", "/v1/admins") => {
            let list = app.get("/v1/admins", token).await;
            assert!(!ids(&list.body, "/id").contains(&json!(a.admin.admin_id)), "{}", list.text);
        }
        ("post", "/v1/admins") => {
            // An email is unique within a tenant only: A's does not conflict.
            let created = app.post("/v1/admins", token, json!({"email": "admin@alpha.test", "name": "B's"})).await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        ("get", "/v1/tokens") => {
            let list = app.get("/v1/tokens", token).await;
            let seen = ids(&list.body, "/id");
            assert!(a.tokens.iter().all(|(id, _)| !seen.contains(&json!(id))), "{}", list.text);
            let of_a = app.get(&format!("/v1/tokens?admin_id={}", a.admin.admin_id), token).await;
            assert_eq!(of_a.body["data"], json!([]), "{}", of_a.text);
        }
        ("post", "/v1/tokens") => {
            // An admin of another tenant is refused as one that does not exist.
            let stolen = app.post("/v1/tokens", token, json!({"admin_id": a.admin.admin_id})).await;
            stolen.problem(422);
            assert_eq!(stolen.error_fields(), ["admin_id"], "{}", stolen.text);
        }
        ("get", "/v1/tokens/{id}") => {
            for (id, _) in &a.tokens {
                app.get(&format!("/v1/tokens/{id}"), token).await.problem(404);
            }
        }
        ("post", "/v1/tokens/{id}/revoke") => {
            for (id, _) in &a.tokens {
                app.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(token), None).await.problem(404);
            }
        }
        ("get", "/v1/integrations") => {
            let list = app.get("/v1/integrations", token).await;
            assert!(!ids(&list.body, "/id").contains(&json!(a.integration_id)), "{}", list.text);
        }
        ("post", "/v1/integrations") => {
            let same_name = scim_integration("Directory", json!({"email": "userName"}));
            let created = app.post("/v1/integrations", token, same_name).await;
            assert_eq!(created.status, 201, "a name is unique within a tenant only: {}", created.text);
        }
        ("get", "/v1/integrations/{id}") => {
            app.get(&integration, token).await.problem(404);
        }
        ("patch", "/v1/integrations/{id}") => {
            app.patch(&integration, token, json!({"name": "Taken over"})).await.problem(404);
        }
        ("delete", "/v1/integrations/{id}") => {
            app.delete(&integration, token).await.problem(404);
        }
        ("get", "/v1/records/{type}") => {
            let list = app.get("/v1/records/employee", token).await;
            let seen = ids(&list.body, "/id");
            assert!(RECORDS.iter().all(|id| !seen.contains(&json!(id))), "{}", list.text);
            let foreign = app.get(&format!("/v1/records/employee?cursor={}", a.cursor), token).await;
            foreign.problem(400);
            assert_eq!(foreign.error_fields(), ["cursor"], "{}", foreign.text);
        }
        ("get", "/v1/records/{type}/{id}") | ("get", "/v1/records/{type}/batch") => {
            for id in RECORDS {
                app.get(&format!("/v1/records/employee/{id}"), token).await.problem(404);
            }
        }
        ("patch", "/v1/records/{type}/{id}") | ("patch", "/v1/records/{type}/batch") => {
            for id in RECORDS {
                app.patch(&format!("/v1/records/employee/{id}"), token, json!({"x": 1})).await.problem(404);
            }
        }
        ("delete", "/v1/records/{type}/{id}") | ("delete", "/v1/records/{type}/batch") => {
            for id in RECORDS {
                app.delete(&format!("/v1/records/employee/{id}"), token).await.problem(404);
            }
        }
        ("put", "/v1/records/{type}/{id}") | ("put", "/v1/records/{type}/batch") => {
            // B's record of the same id is B's own, new.
            for id in RECORDS {
                let written = app.put(&format!("/v1/records/employee/{id}"), token, json!({"owner": "b"})).await;
                assert_eq!(written.status, 201, "{}", written.text);
                assert_eq!(written.body["fields"], json!({"owner": "b"}));
                app.delete(&format!("/v1/records/employee/{id}"), token).await;
            }
        }
        ("post", "/v1/records/{type}/{id}/retry") => {
            app.post("/v1/records/employee/e-1/retry", token, json!({})).await.problem(404);
            app.put_employee(token, "b-1", json!({"email": "b@beta.test"})).await;
            let others = app.post("/v1/records/employee/b-1/retry", token, json!({"integration_id": a.integration_id}));
            others.await.problem(404);
        }
        ("post", "/v1/records/{type}/batch") => {
            let body = json!({"records": [{"id": "e-1", "fields": {"owner": "b"}}, {"id": "e-2", "deleted": true}]});
            let written = app.post("/v1/records/employee/batch", token, body).await;
            assert_eq!(written.status, 200, "{}", written.text);
            assert_eq!(written.body["results"][0]["created"], true, "{}", written.text);
            app.delete("/v1/records/employee/e-1", token).await;
        }
        ("post", "/v1/integrations/{id}/overviews") => {
            app.post(&format!("{integration}/overviews"), token, json!({})).await.problem(404);
        }
        ("post", "/v1/integrations/{id}/sync-runs") => {
            app.post(&format!("{integration}/sync-runs"), token, json!({})).await.problem(404);
            // A's overview, applied to B's own integration, is one that does not exist.
            let own = app.integration(token, scim_integration("B's directory", json!({"email": "userName"}))).await;
            let stolen = app
                .post(&format!("/v1/integrations/{own}/sync-runs"), token, json!({"overview_id": a.overview_id}))
                .await;
            stolen.problem(422);
            assert_eq!(stolen.error_fields(), ["overview_id"], "{}", stolen.text);
            app.delete(&format!("/v1/integrations/{own}"), token).await;
        }
        ("get", "/v1/integrations/{id}/sync-runs") => {
            app.get(&format!("{integration}/sync-runs"), token).await.problem(404);
        }
        ("get", "/v1/overviews/{id}") => {
            app.get(&format!("/v1/overviews/{}", a.overview_id), token).await.problem(404);
        }
        ("get", "/v1/overviews/{id}/changes") => {
            app.get(&format!("/v1/overviews/{}/changes", a.overview_id), token).await.problem(404);
        }
        ("get", "/v1/sync-runs/{id}") => {
            app.get(&format!("/v1/sync-runs/{}", a.sync_run_id), token).await.problem(404);
        }
        ("get", "/v1/sync-runs/{id}/log") => {
            app.get(&format!("/v1/sync-runs/{}/log", a.sync_run_id), token).await.problem(404);
        }
        ("get", "/v1/notifications") => {
            let list = app.get("/v1/notifications", token).await;
            assert_eq!(list.body["data"], json!([]), "{}", list.text);
            assert_eq!(list.body["unseen_count"], 0, "{}", list.text);
        }
        ("post", "/v1/notifications/seen") => {
            let marked = app.send(Method::POST, "/v1/notifications/seen", Some(token), None).await;
            assert_eq!(marked.body["marked"], 0, "{}", marked.text);
        }
        ("post", "/v1/notifications/{id}/seen") | ("post", "/v1/notifications/{id}/read") => {
            let what = template.rsplit('/').next().unwrap_or_default();
            for id in &a.notifications {
                app.send(Method::POST, &format!("/v1/notifications/{id}/{what}"), Some(token), None).await.problem(404);
            }
        }
        ("get", "/v1/settings") => {
            let own = app.get("/v1/settings", token).await;
            assert_eq!(own.body["background_after_seconds"], 60, "B's own defaults: {}", own.text);
        }
        ("patch", "/v1/settings") => {
            let changed = app.patch("/v1/settings", token, json!({"email_delay_seconds": 5})).await;
            assert_eq!(changed.status, 200, "{}", changed.text);
        }
        // B's console session reaches what B's token reaches: every console
        // page with A's ids is a 404 page, and B's lists show nothing of A's.
        ("post", "/v1/console/sessions") => console_probe(app, a, b).await,
        _ => return false,
    }
    true
}

/// Every console route that takes an id, with A's.
async fn console_probe(app: &TestApp, a: &TenantA, b: &TenantAdmin) {
    let browser = ConsoleClient::signed_in(app, &b.token).await;
    let integration = a.integration_id.to_string();
    let overview = a.overview_id.to_string();
    let mut gets = vec![
        format!("/console/integrations/{integration}"),
        format!("/console/overviews/{overview}"),
        format!("/console/sync-runs/{}", a.sync_run_id),
        format!("/console/live?overview={overview}"),
        format!("/console/live?run={}", a.sync_run_id),
    ];
    for id in RECORDS {
        gets.push(format!("/console/records/employee/{id}"));
        gets.push(format!("/console/live?record_type=employee&record_id={id}"));
    }
    gets.extend(a.notifications.iter().map(|id| format!("/console/notifications/{id}")));
    for path in &gets {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
        assert!(answer.content_type().starts_with("text/html"), "{path}: {}", answer.content_type());
    }
    for id in RECORDS {
        let retry = browser.post(&format!("/console/records/employee/{id}/retry"), &[]).await;
        assert_eq!(retry.status, 404, "retry {id}: {}", retry.text);
    }
    for path in [
        format!("/console/integrations/{integration}/overviews"),
        format!("/console/integrations/{integration}/sync-runs"),
    ] {
        assert_eq!(browser.post(&path, &[]).await.status, 404, "{path}");
    }
    // A's overview named in B's own Sync Now is no overview of B's.
    let own = app.integration(&b.token, scim_integration("B's", json!({"email": "userName"}))).await;
    let apply =
        browser.post(&format!("/console/integrations/{own}/sync-runs"), &[("overview_id", overview.as_str())]).await;
    assert_eq!(apply.status, 422, "{}", apply.text);
    for path in [
        "/console/records/employee",
        "/console/records/employee?q=alpha",
        "/console/integrations",
        "/console/notifications",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert!(
            !page.text.contains("alpha.test") && !page.text.contains("Directory"),
            "{path} shows A's: {}",
            page.text
        );
    }
    // Deleting B's integration again keeps the probe of A's routes the same
    // for the probes that run after this one.
    app.delete(&format!("/v1/integrations/{own}"), &b.token).await;
}

async fn no_route_shows_or_changes_another_tenants_data(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = tenant_a(&app).await;
    let b = app.tenant("beta").await;
    let before = snapshot(&app, &a).await;

    let document = app.get("/openapi.json", &b.token).await.body;
    let mut operations = BTreeSet::new();
    for (template, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), template.clone()));
            }
        }
    }
    let mut missing = Vec::new();
    for (method, template) in &operations {
        if !probe(&app, &a, &b, method, template).await {
            missing.push(format!("{} {template}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "operations without an isolation probe (add them to `probe`): {missing:?}");
    let stale: Vec<_> = PROBED.iter().filter(|(m, p)| !operations.contains(&(m.to_string(), p.to_string()))).collect();
    assert!(stale.is_empty(), "probes of operations the document no longer lists: {stale:?}");

    assert_eq!(snapshot(&app, &a).await, before, "tenant A's data changed");
    for (id, value) in &a.tokens {
        let me = app.get("/v1/me", value).await;
        assert_eq!(me.status, 200, "A's token {id} no longer signs in: {}", me.text);
        assert_eq!(me.body["admin"]["id"], json!(a.admin.admin_id), "{}", me.text);
    }
}
both_backends!(no_route_shows_or_changes_another_tenants_data);
