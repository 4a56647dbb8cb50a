//! Records through the HTTP API: writes with versions and changed fields,
//! the sync view they imply, tenant scoping, paging and batches.

mod support;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::api::*;
use support::app::{t0, TestApp};
use support::Backend;

fn sorted(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_record_round_trips_through_put_get_patch_and_delete() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let path = "/v1/records/employee/e-1";

    let created = server.put(path, &acme.token, json!({"email": "ada@acme.test", "name": {"first": "Ada"}})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["id"], "e-1");
    assert_eq!(created.body["type"], "employee");
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.headers["etag"], "\"1\"");
    assert!(!created.body["changed_fields"].as_array().unwrap().is_empty());

    let read = server.get(path, &acme.token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["fields"], json!({"email": "ada@acme.test", "name": {"first": "Ada"}}));
    assert_eq!(read.body["version"], 1);
    assert_eq!(read.body["sync"]["integrations"], json!([]));
    assert!(read.body.get("changed_fields").is_none(), "reads carry no changed fields");

    let same = server.put(path, &acme.token, json!({"email": "ada@acme.test", "name": {"first": "Ada"}})).await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.body["version"], 1, "a write that changes nothing keeps the version");
    assert_eq!(same.body["changed_fields"], json!([]));

    let patched = server.patch(path, &acme.token, json!({"name": {"last": "Lovelace"}, "email": null})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.body["fields"], json!({"name": {"first": "Ada", "last": "Lovelace"}}));
    assert_eq!(sorted(&patched.body["changed_fields"]), ["email", "name.last"]);

    let replaced = server.put(path, &acme.token, json!({"email": "ada@example.com"})).await;
    assert_eq!(replaced.body["version"], 3);
    assert_eq!(replaced.body["fields"], json!({"email": "ada@example.com"}));

    assert_eq!(server.delete(path, &acme.token).await.status, StatusCode::NO_CONTENT);
    server.get(path, &acme.token).await.problem(404);
    server.delete(path, &acme.token).await.problem(404);
    server.patch(path, &acme.token, json!({"a": 1})).await.problem(404);

    let revived = server.put(path, &acme.token, json!({"email": "ada@acme.test"})).await;
    assert_eq!(revived.status, StatusCode::CREATED, "a PUT after a delete creates again");
}

#[tokio::test]
async fn if_match_with_another_version_answers_412() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let path = "/v1/records/employee/e-1";
    server.put(path, &acme.token, json!({"n": 1})).await;

    let put = |version: &'static str, body: Value| {
        let request = server
            .client
            .request(Method::PUT, format!("{}{path}", server.base))
            .bearer_auth(&acme.token)
            .header("if-match", version)
            .json(&body);
        async move { answer(request.send().await.unwrap()).await }
    };
    put("\"7\"", json!({"n": 2})).await.problem(412);
    let ok = put("\"1\"", json!({"n": 2})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["version"], 2);

    let patch = server
        .client
        .patch(format!("{}{path}", server.base))
        .bearer_auth(&acme.token)
        .header("if-match", "\"1\"")
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"n": 3}"#);
    answer(patch.send().await.unwrap()).await.problem(412);
    // `"0"` means "only if it does not exist yet".
    put("\"0\"", json!({"n": 9})).await.problem(412);
}

#[tokio::test]
async fn a_merge_patch_content_type_is_accepted() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.put("/v1/records/employee/e-1", &acme.token, json!({"n": 1, "m": 1})).await;
    let response = server
        .client
        .patch(format!("{}/v1/records/employee/e-1", server.base))
        .bearer_auth(&acme.token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"m": null}"#)
        .send()
        .await
        .unwrap();
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["fields"], json!({"n": 1}));
}

#[tokio::test]
async fn a_mapped_change_makes_only_its_integration_pending_one_grace_period_out() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let path = "/v1/records/employee/e-1";
    // The record exists before the integrations, so its creation schedules nothing.
    server.put(path, &acme.token, json!({"email": "ada@acme.test", "department": "R&D", "nickname": "A"})).await;
    let mut directory = scim_integration("Directory", json!({"email": "userName"}));
    directory["grace_period_seconds"] = json!(300);
    let directory = server.integration(&acme.token, directory).await;
    let payroll = server.integration(&acme.token, scim_integration("Payroll", json!({"department": "title"}))).await;

    let unmapped =
        server.put(path, &acme.token, json!({"email": "ada@acme.test", "department": "R&D", "nickname": "B"})).await;
    assert_eq!(unmapped.body["sync"]["integrations"], json!([]), "{}", unmapped.text);

    server.clock.advance(Duration::seconds(10));
    let mapped =
        server.put(path, &acme.token, json!({"email": "ada@example.com", "department": "R&D", "nickname": "B"})).await;
    let sync = &mapped.body["sync"];
    let states = sync["integrations"].as_array().unwrap();
    assert_eq!(states.len(), 1, "only the integration mapping `email`: {}", mapped.text);
    assert_eq!(states[0]["integration_id"], directory);
    assert_eq!(states[0]["name"], "Directory");
    assert_eq!(states[0]["status"], "sync_pending");
    assert_eq!(time(&states[0]["sync_starts_at"]), t0() + Duration::seconds(10 + 300));
    assert_eq!(sync["badge"], json!([{"status": "sync_pending", "integration_ids": [directory]}]));
    assert_eq!(sync["fields"], json!({"email": [directory], "department": [payroll]}));

    // An unmapped change leaves the pending sync's start where it was.
    server.clock.advance(Duration::seconds(60));
    let unmapped =
        server.put(path, &acme.token, json!({"email": "ada@example.com", "department": "R&D", "nickname": "C"})).await;
    let states = &unmapped.body["sync"]["integrations"];
    assert_eq!(time(&states[0]["sync_starts_at"]), t0() + Duration::seconds(310));

    // A further mapped change pushes it back by a full grace period.
    let read = server.patch(path, &acme.token, json!({"email": "ada@lovelace.test"})).await;
    let states = &read.body["sync"]["integrations"];
    assert_eq!(time(&states[0]["sync_starts_at"]), t0() + Duration::seconds(70 + 300));
    assert_eq!(states[0]["attempts"], 0);
}

#[tokio::test]
async fn a_failed_sync_is_retried_on_request() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let mut body = scim_integration("Directory", json!({"email": "userName"}));
    body["grace_period_seconds"] = json!(0);
    body["retry"] = json!({"max_attempts": 1});
    // Port 1 on loopback refuses connections: the one attempt fails.
    body["connector"]["base_url"] = json!("http://127.0.0.1:1/scim");
    let id = server.integration(&acme.token, body).await;
    let path = "/v1/records/employee/e-1";
    server.put(path, &acme.token, json!({"email": "ada@acme.test"})).await;

    server.post(&format!("{path}/retry"), &acme.token, json!({})).await.problem(409);

    server.clock.advance(Duration::seconds(1));
    server.worker.drain().await.unwrap();
    let failed = server.get(path, &acme.token).await;
    let state = &failed.body["sync"]["integrations"][0];
    assert_eq!(state["status"], "sync_failed", "{}", failed.text);
    assert!(!state["errors"].as_array().unwrap().is_empty());
    assert_eq!(failed.body["sync"]["badge"][0]["status"], "sync_failed");

    server.post(&format!("{path}/retry"), &acme.token, json!({"integration_id": id + 100})).await.problem(404);
    let retried = server.send(Method::POST, &format!("{path}/retry"), Some(&acme.token), None).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.body["sync"]["integrations"][0]["status"], "sync_pending");
    server.post(&format!("{path}/retry"), &acme.token, json!({"integration_id": id})).await.problem(409);
}

#[tokio::test]
async fn another_tenants_record_answers_404() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let globex = server.tenant("globex").await;
    let path = "/v1/records/employee/e-1";
    server.put(path, &acme.token, json!({"n": 1})).await;

    server.get(path, &globex.token).await.problem(404);
    server.patch(path, &globex.token, json!({"n": 2})).await.problem(404);
    server.delete(path, &globex.token).await.problem(404);
    server.post(&format!("{path}/retry"), &globex.token, json!({})).await.problem(404);
    assert_eq!(server.get("/v1/records/employee", &globex.token).await.body["data"], json!([]));
    // A PUT by the other tenant makes its own record; the first is untouched.
    assert_eq!(server.put(path, &globex.token, json!({"n": 9})).await.status, StatusCode::CREATED);
    assert_eq!(server.get(path, &acme.token).await.body["fields"], json!({"n": 1}));
}

#[tokio::test]
async fn bad_record_types_ids_and_bodies_are_problems() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.put("/v1/records/Employee/e-1", &acme.token, json!({})).await.problem(400);
    server.put(&format!("/v1/records/employee/{}", "x".repeat(256)), &acme.token, json!({})).await.problem(400);
    server.put("/v1/records/employee/a%0Ab", &acme.token, json!({})).await.problem(400);
    let answer = server.put("/v1/records/employee/e-1", &acme.token, json!([1, 2])).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["body"]);
}

#[tokio::test]
async fn a_record_may_be_called_batch() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let created = server.put("/v1/records/employee/batch", &acme.token, json!({"n": 1})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(server.get("/v1/records/employee/batch", &acme.token).await.body["id"], "batch");
    let patched = server.patch("/v1/records/employee/batch", &acme.token, json!({"n": 2})).await;
    assert_eq!(patched.body["version"], 2, "{}", patched.text);
    // Nothing failed, so a retry is refused; the route itself is found.
    server.post("/v1/records/employee/batch/retry", &acme.token, json!({})).await.problem(409);
    assert_eq!(server.delete("/v1/records/employee/batch", &acme.token).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn records_are_listed_a_page_at_a_time() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let records: Vec<Value> = (1..=5).map(|i| json!({"id": format!("e-{i}"), "fields": {"n": i}})).collect();
    server.post("/v1/records/employee/batch", &acme.token, json!({ "records": records })).await;
    server.put("/v1/records/contractor/c-1", &acme.token, json!({})).await;

    let mut seen = Vec::new();
    let mut path = "/v1/records/employee?limit=2".to_owned();
    loop {
        let page = server.get(&path, &acme.token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let data = page.body["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        for record in data {
            assert!(record["sync"].is_object());
            seen.push(record["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/records/employee?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["e-1", "e-2", "e-3", "e-4", "e-5"]);

    let all = server.get("/v1/records/employee", &acme.token).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 5);
    assert_eq!(all.body["next_cursor"], Value::Null);

    server.get("/v1/records/employee?cursor=bogus", &acme.token).await.problem(400);
    server.get("/v1/records/employee?limit=0", &acme.token).await.problem(400);
    server.get("/v1/records/employee?limit=501", &acme.token).await.problem(400);
}

#[tokio::test]
async fn a_batch_writes_and_deletes_in_order() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.put("/v1/records/employee/old", &acme.token, json!({"n": 0})).await;
    let body = json!({"records": [
        {"id": "a", "fields": {"n": 1}},
        {"id": "b", "fields": {"n": 2}},
        {"id": "a", "fields": {"n": 3}},
        {"id": "old", "deleted": true},
    ]});
    let answer = server.post("/v1/records/employee/batch", &acme.token, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], json!({"id": "a", "version": 1, "created": true, "changed_fields": ["n"]}));
    assert_eq!(results[2], json!({"id": "a", "version": 2, "created": false, "changed_fields": ["n"]}));
    assert!(results[0].get("sync").is_none(), "the fast path builds no sync views");
    assert_eq!(server.get("/v1/records/employee/a", &acme.token).await.body["fields"], json!({"n": 3}));
    server.get("/v1/records/employee/old", &acme.token).await.problem(404);
}

#[tokio::test]
async fn a_batch_with_bad_elements_lists_them_all_and_stores_nothing() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let body = json!({"records": [
        {"id": "good", "fields": {"n": 1}},
        {"id": "", "fields": {}},
        {"id": "x", "fields": {"a\u{0}": 1}},
        {"id": "y"},
    ]});
    let answer = server.post("/v1/records/employee/batch", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["records[1].id", "records[2].fields.a\\u{0}", "records[3].fields"]);
    server.get("/v1/records/employee/good", &acme.token).await.problem(404);

    // A body of the wrong shape is refused at its first element that does not fit.
    let body = json!({"records": [{"id": "good", "fields": {}}, {"id": "x", "fields": "not an object"}]});
    let answer = server.post("/v1/records/employee/batch", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["records[1].fields"]);
    server.get("/v1/records/employee/good", &acme.token).await.problem(404);
}

#[tokio::test]
async fn a_batch_over_5000_records_is_refused_with_the_limit() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let records: Vec<Value> = (0..5001).map(|i| json!({"id": i.to_string(), "fields": {}})).collect();
    let answer = server.post("/v1/records/employee/batch", &acme.token, json!({ "records": records })).await;
    let problem = answer.problem(413);
    assert!(problem["detail"].as_str().unwrap().contains("5000"), "{}", answer.text);
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let server = TestApp::start_with(Backend::Sqlite, |c| c.body_limit_bytes = 4096).await;
    let acme = server.tenant("acme").await;
    let answer = server.put("/v1/records/employee/e-1", &acme.token, json!({"blob": "x".repeat(10_000)})).await;
    answer.problem(413);
    server.get("/v1/records/employee/e-1", &acme.token).await.problem(404);
}
