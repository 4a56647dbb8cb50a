//! Integrations through the HTTP API: validation, tenant scoping, and the
//! connector's credentials never leaving the server.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::api::*;
use support::app::TestApp;
use support::Backend;

const SECRET: &str = "scim-secret-token-123";

#[tokio::test]
async fn an_integration_is_created_read_listed_and_deleted() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let mut body = scim_integration("Directory", json!({"email": "userName", "first_name": "name.givenName"}));
    body["grace_period_seconds"] = json!(120);
    body["eligibility"] = json!([{"field": "status", "op": "eq", "value": "active"}]);
    let created = server.post("/v1/integrations", &acme.token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["name"], "Directory");
    assert_eq!(created.body["record_type"], "employee", "the default record type");
    assert_eq!(created.body["connector"], json!({"kind": "scim", "base_url": "http://127.0.0.1:9/scim"}));
    assert_eq!(created.body["field_mapping"]["first_name"], "name.givenName");
    assert_eq!(created.body["grace_period_seconds"], 120.0);
    assert_eq!(created.body["max_wait_seconds"], 3600.0, "the effective max wait");
    assert_eq!(created.body["retry"]["max_attempts"], 5);
    assert_eq!(created.body["eligibility"][0]["op"], "eq");

    let one = server.get(&format!("/v1/integrations/{id}"), &acme.token).await;
    assert_eq!(one.body, created.body);
    let list = server.get("/v1/integrations", &acme.token).await;
    assert_eq!(list.body["data"], json!([created.body]));

    assert_eq!(server.delete(&format!("/v1/integrations/{id}"), &acme.token).await.status, StatusCode::NO_CONTENT);
    server.get(&format!("/v1/integrations/{id}"), &acme.token).await.problem(404);
    server.delete(&format!("/v1/integrations/{id}"), &acme.token).await.problem(404);
}

#[tokio::test]
async fn the_connector_token_never_appears_in_any_response() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let created =
        server.post("/v1/integrations", &acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let id = created.body["id"].as_i64().unwrap();
    let path = format!("/v1/integrations/{id}");
    let answers = [
        created,
        server.get(&path, &acme.token).await,
        server.get("/v1/integrations", &acme.token).await,
        server.patch(&path, &acme.token, json!({"grace_period_seconds": 10})).await,
        server.patch(&path, &acme.token, json!({"max_wait_seconds": 1})).await,
        server.post("/v1/integrations", &acme.token, scim_integration("D", json!({"email": "userName"}))).await,
    ];
    for answer in answers {
        assert!(!answer.text.contains(SECRET), "{}", answer.text);
        assert!(!answer.text.contains("bearer_token\":"), "{}", answer.text);
    }
}

#[tokio::test]
async fn a_patch_without_the_token_keeps_the_stored_one() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let id = server.integration(&acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let path = format!("/v1/integrations/{id}");
    // Were the token dropped, the patched integration would fail validation.
    let patched = server
        .patch(&path, &acme.token, json!({"name": "Directory", "connector": {"base_url": "http://127.0.0.1:9/v2"}}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["name"], "Directory");
    assert_eq!(patched.body["connector"]["base_url"], "http://127.0.0.1:9/v2");
    assert_eq!(patched.body["field_mapping"], json!({"email": "userName"}));
    // `null` removes a key: the max wait returns to its default.
    let patched = server.patch(&path, &acme.token, json!({"max_wait_seconds": 600})).await;
    assert_eq!(patched.body["max_wait_seconds"], 600.0);
    let patched = server.patch(&path, &acme.token, json!({"max_wait_seconds": null})).await;
    assert_eq!(patched.body["max_wait_seconds"], 3600.0, "{}", patched.text);
}

#[tokio::test]
async fn an_unknown_field_is_a_422_naming_it() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let mut body = scim_integration("D", json!({"email": "userName"}));
    body["colour"] = json!("blue");
    let answer = server.post("/v1/integrations", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["colour"]);

    let mut body = scim_integration("D", json!({"email": "userName"}));
    body["connector"]["password"] = json!("hunter2");
    let answer = server.post("/v1/integrations", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["connector.password"]);
}

#[tokio::test]
async fn a_bad_mapping_path_is_a_422_naming_the_field_mapping() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let body = scim_integration("D", json!({"email": "emails[type eq work].value"}));
    let answer = server.post("/v1/integrations", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["field_mapping"]);
}

#[tokio::test]
async fn a_max_wait_below_the_grace_period_is_a_422() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let mut body = scim_integration("D", json!({"email": "userName"}));
    body["grace_period_seconds"] = json!(300);
    body["max_wait_seconds"] = json!(60);
    let answer = server.post("/v1/integrations", &acme.token, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["max_wait_seconds"]);
}

#[tokio::test]
async fn a_private_base_url_outside_the_allow_list_is_a_422() {
    let server = TestApp::start_with(Backend::Sqlite, |c| c.outbound_allow.clear()).await;
    let acme = server.tenant("acme").await;
    let answer =
        server.post("/v1/integrations", &acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["connector.base_url"]);

    let mut body = scim_integration("D", json!({"email": "userName"}));
    body["connector"]["base_url"] = json!("http://169.254.169.254/latest");
    server.post("/v1/integrations", &acme.token, body).await.problem(422);
}

#[tokio::test]
async fn a_patch_is_validated_like_a_create() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let id = server.integration(&acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let answer =
        server.patch(&format!("/v1/integrations/{id}"), &acme.token, json!({"retry": {"max_attempts": 0}})).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["retry"]);
}

#[tokio::test]
async fn a_duplicate_integration_name_answers_409() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.integration(&acme.token, scim_integration("Directory", json!({"email": "userName"}))).await;
    let answer =
        server.post("/v1/integrations", &acme.token, scim_integration("Directory", json!({"n": "userName"}))).await;
    answer.problem(409);
    // Another tenant may use the name.
    let globex = server.tenant("globex").await;
    server.integration(&globex.token, scim_integration("Directory", json!({"email": "userName"}))).await;
}

#[tokio::test]
async fn another_tenants_integration_answers_404() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let globex = server.tenant("globex").await;
    let id = server.integration(&acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let path = format!("/v1/integrations/{id}");
    server.get(&path, &globex.token).await.problem(404);
    server.patch(&path, &globex.token, json!({"name": "Mine"})).await.problem(404);
    server.delete(&path, &globex.token).await.problem(404);
    let list = server.get("/v1/integrations", &globex.token).await;
    assert_eq!(list.body["data"], json!([]));
    assert_eq!(server.get(&path, &acme.token).await.status, StatusCode::OK, "still there for its owner");
}

#[tokio::test]
async fn a_non_numeric_integration_id_is_a_400_problem() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.get("/v1/integrations/abc", &acme.token).await.problem(400);
}

/// Each process keeps the integrations that writes are planned with in
/// memory. A change made through another process on the same database must
/// still apply to the very next write here, in both directions.
async fn an_integration_changed_through_another_process_applies_to_the_next_write(backend: Backend) {
    let here = TestApp::start(backend).await;
    let database_url = here.database_url.clone();
    let there = TestApp::start_with(backend, move |config| config.database_url = database_url).await;
    let acme = here.tenant("acme").await;
    let okta = here.integration(&acme.token, scim_integration("Okta", json!({"email": "userName"}))).await;
    here.put_employee(&acme.token, "e-1", json!({"email": "ada@acme.test", "title": "Engineer"})).await;

    // Another process adds an integration that syncs the title.
    let workday = there.integration(&acme.token, scim_integration("Workday", json!({"title": "title"}))).await;
    let written = here.put_employee(&acme.token, "e-1", json!({"email": "ada@acme.test", "title": "Lead"})).await;
    let synced_by: Vec<i64> = written["sync"]["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["integration_id"].as_i64().unwrap())
        .collect();
    assert_eq!(synced_by, vec![okta, workday], "{written}");
    assert_eq!(here.status(&acme.token, "e-1", workday).await, "sync_pending");
    assert_eq!(written["sync"]["fields"]["title"], json!([workday]));

    // And deletes it again: the next write here plans without it.
    let deleted = there.delete(&format!("/v1/integrations/{workday}"), &acme.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let written = here.put_employee(&acme.token, "e-1", json!({"email": "ada@acme.test", "title": "Director"})).await;
    assert_eq!(written["sync"]["fields"].get("title"), None, "{written}");
    assert_eq!(here.status(&acme.token, "e-1", workday).await, serde_json::Value::Null);
}
both_backends!(an_integration_changed_through_another_process_applies_to_the_next_write);

#[tokio::test]
async fn moving_the_base_url_to_another_origin_takes_the_token_in_the_same_request() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let id = server.integration(&acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let path = format!("/v1/integrations/{id}");
    for elsewhere in ["http://127.0.0.2:9/scim", "http://127.0.0.1:10/scim", "https://127.0.0.1:9/scim"] {
        let answer = server.patch(&path, &acme.token, json!({"connector": {"base_url": elsewhere}})).await;
        answer.problem(422);
        assert_eq!(answer.error_fields(), ["connector.bearer_token"], "{elsewhere}: {}", answer.text);
        assert!(answer.body["detail"].as_str().unwrap().contains("another origin"), "{}", answer.text);
    }
    let unchanged = server.get(&path, &acme.token).await;
    assert_eq!(unchanged.body["connector"]["base_url"], "http://127.0.0.1:9/scim", "nothing was stored");

    // Another path on the same origin keeps the stored token.
    let moved =
        server.patch(&path, &acme.token, json!({"connector": {"base_url": "http://127.0.0.1:9/v2/scim"}})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    // Another origin with its own token is fine.
    let body = json!({"connector": {"base_url": "http://127.0.0.2:9/scim", "bearer_token": "the-new-hosts-token"}});
    let moved = server.patch(&path, &acme.token, body).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["connector"]["base_url"], "http://127.0.0.2:9/scim");
    assert!(!moved.text.contains("the-new-hosts-token"));
}

#[tokio::test]
async fn a_token_sent_in_any_form_but_a_string_is_a_422_naming_it() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    for token in [json!({"encrypted": "v1.00000000.AAAA"}), json!(42), json!(["t"])] {
        let mut body = scim_integration("D", json!({"email": "userName"}));
        body["connector"]["bearer_token"] = token.clone();
        let answer = server.post("/v1/integrations", &acme.token, body).await;
        answer.problem(422);
        assert_eq!(answer.error_fields(), ["connector.bearer_token"], "{token}: {}", answer.text);
    }
    let id = server.integration(&acme.token, scim_integration("D", json!({"email": "userName"}))).await;
    let sealed = json!({"connector": {"bearer_token": {"encrypted": "v1.00000000.AAAA"}}});
    let answer = server.patch(&format!("/v1/integrations/{id}"), &acme.token, sealed).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["connector.bearer_token"]);
}
