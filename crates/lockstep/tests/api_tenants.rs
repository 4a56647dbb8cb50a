//! Tenants, admins and authentication, through the HTTP API.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::api::*;
use support::app::{TestApp, OPERATOR_TOKEN};
use support::Backend;

fn tenant_body() -> serde_json::Value {
    json!({"name": "Acme", "admin": {"email": "ada@acme.test", "name": "Ada"}})
}

#[tokio::test]
async fn the_operator_creates_a_tenant_with_its_first_admin_and_token() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.post("/v1/tenants", OPERATOR_TOKEN, tenant_body()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.body["tenant"]["name"], "Acme");
    assert_eq!(answer.body["admin"]["email"], "ada@acme.test");
    assert!(answer.body["tenant"]["id"].is_i64() && answer.body["admin"]["id"].is_i64());
    let token = answer.body["token"].as_str().unwrap();
    assert!(token.starts_with("lst_"), "{token}");

    let me = server.get("/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["tenant"]["name"], "Acme");
    assert_eq!(me.body["admin"]["name"], "Ada");
}

#[tokio::test]
async fn tenant_creation_without_the_operator_token_answers_401() {
    let server = TestApp::start(Backend::Sqlite).await;
    let missing = server.send(Method::POST, "/v1/tenants", None, Some(tenant_body())).await;
    missing.problem(401);
    assert!(missing.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    let wrong = server.post("/v1/tenants", "operator-token-but-wrong", tenant_body()).await;
    wrong.problem(401);
    assert!(wrong.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn an_admin_token_cannot_create_tenants() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.post("/v1/tenants", &acme.token, tenant_body()).await.problem(401);
}

#[tokio::test]
async fn tenant_creation_is_forbidden_when_no_operator_token_is_configured() {
    let server = TestApp::start_with(Backend::Sqlite, |c| c.operator_token = None).await;
    let answer = server.post("/v1/tenants", OPERATOR_TOKEN, tenant_body()).await;
    let problem = answer.problem(403);
    assert!(problem["detail"].as_str().unwrap().contains("LOCKSTEP_OPERATOR_TOKEN"), "{}", answer.text);
}

#[tokio::test]
async fn invalid_tenant_fields_are_all_named_in_one_422() {
    let server = TestApp::start(Backend::Sqlite).await;
    let body = json!({"name": "", "admin": {"email": "not an email", "name": "Ada"}});
    let answer = server.post("/v1/tenants", OPERATOR_TOKEN, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["name", "admin.email"]);
}

#[tokio::test]
async fn an_unknown_field_in_a_tenant_is_a_422_naming_it() {
    let server = TestApp::start(Backend::Sqlite).await;
    let body = json!({"name": "Acme", "admin": {"email": "a@acme.test", "name": "Ada", "role": "owner"}});
    let answer = server.post("/v1/tenants", OPERATOR_TOKEN, body).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["admin.role"]);
}

#[tokio::test]
async fn a_missing_field_is_a_422_naming_it() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.post("/v1/tenants", OPERATOR_TOKEN, json!({"name": "Acme"})).await;
    answer.problem(422);
    assert_eq!(answer.error_fields(), ["admin"]);
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let server = TestApp::start(Backend::Sqlite).await;
    let response = server
        .client
        .post(format!("{}/v1/tenants", server.base))
        .bearer_auth(OPERATOR_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": \"Acme\",")
        .send()
        .await
        .unwrap();
    let answer = answer(response).await;
    let problem = answer.problem(400);
    assert!(problem["detail"].as_str().unwrap().contains("line 1"), "{}", answer.text);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let server = TestApp::start(Backend::Sqlite).await;
    let response = server
        .client
        .post(format!("{}/v1/tenants", server.base))
        .bearer_auth(OPERATOR_TOKEN)
        .header("content-type", "text/plain")
        .body("name=Acme")
        .send()
        .await
        .unwrap();
    answer(response).await.problem(415);
}

#[tokio::test]
async fn an_admin_adds_another_admin_who_can_sign_in() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let answer = server.post("/v1/admins", &acme.token, json!({"email": "grace@acme.test", "name": "Grace"})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let token = answer.body["token"].as_str().unwrap().to_owned();
    assert_ne!(token, acme.token);

    let me = server.get("/v1/me", &token).await;
    assert_eq!(me.body["admin"]["email"], "grace@acme.test");
    assert_eq!(me.body["tenant"]["id"], acme.tenant_id);

    let list = server.get("/v1/admins", &token).await;
    let emails: Vec<&str> =
        list.body["data"].as_array().unwrap().iter().map(|a| a["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), 2, "{}", list.text);
    assert!(emails.contains(&"admin@acme.test") && emails.contains(&"grace@acme.test"));
    assert!(!list.text.contains("token"), "admins are listed without tokens: {}", list.text);
}

#[tokio::test]
async fn a_duplicate_admin_email_answers_409() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let body = json!({"email": "grace@acme.test", "name": "Grace"});
    assert_eq!(server.post("/v1/admins", &acme.token, body.clone()).await.status, StatusCode::CREATED);
    server.post("/v1/admins", &acme.token, body).await.problem(409);
}

#[tokio::test]
async fn admins_of_another_tenant_are_not_listed() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    let globex = server.tenant("globex").await;
    let list = server.get("/v1/admins", &globex.token).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(!list.text.contains("acme"), "{}", list.text);
    assert_ne!(acme.tenant_id, globex.tenant_id);
}

#[tokio::test]
async fn a_bad_admin_token_answers_401_with_a_bearer_challenge() {
    let server = TestApp::start(Backend::Sqlite).await;
    server.tenant("acme").await;
    let answer = server.get("/v1/me", "lst_not-a-real-token").await;
    answer.problem(401);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    server.send(Method::GET, "/v1/admins", None, None).await.problem(401);
}
