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

mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use support::api::scim_integration;
use support::app::{TenantAdmin, TestApp};
use support::Backend;

/// What tenant A owns, by the ids B will try.
struct TenantA {
    admin: TenantAdmin,
    integration_id: i64,
    /// The `next_cursor` of A's first page of employees.
    cursor: String,
    /// A's tokens, by id and value: its admin's first and one made after.
    tokens: Vec<(i64, String)>,
}

const RECORDS: [&str; 3] = ["e-1", "e-2", "batch"];

/// The operations [`probe`] has an entry for.
const PROBED: [(&str, &str); 27] = [
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
    TenantA { admin, integration_id, cursor, tokens }
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
        _ => return false,
    }
    true
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
