//! Health, metrics, the OpenAPI document, and the problem documents of
//! routes that do not exist.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::app::TestApp;
use support::Backend;

#[tokio::test]
async fn healthz_answers_ok_once_the_store_answers() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_bearer_scheme() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let document: Value = serde_json::from_str(&answer.text).expect("the document is JSON");
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/tenants",
        "/v1/admins",
        "/v1/me",
        "/v1/integrations",
        "/v1/integrations/{id}",
        "/v1/records/{type}",
        "/v1/records/{type}/{id}",
        "/v1/records/{type}/batch",
        "/v1/records/{type}/{id}/retry",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    let record = &paths["/v1/records/{type}/{id}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(record.get(method).is_some(), "{method} /v1/records/{{type}}/{{id}} is missing");
    }
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert!(document["components"]["schemas"]["RecordView"].is_object());
}

#[tokio::test]
async fn metrics_count_record_writes_and_requests_by_route() {
    let server = TestApp::start(Backend::Sqlite).await;
    let acme = server.tenant("acme").await;
    server.put("/v1/records/employee/e-1", &acme.token, json!({"n": 1})).await;
    let answer = server.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("text/plain; version=0.0.4"), "{}", answer.content_type());
    assert!(answer.text.contains("lockstep_record_writes_total 1"), "{}", answer.text);
    assert!(answer.text.contains("route=\"/v1/records/{type}/{id}\""), "{}", answer.text);
    assert!(answer.text.contains("lockstep_sync_states{status=\"sync_pending\"} 0"), "{}", answer.text);
    assert!(!answer.text.contains("e-1"), "raw paths never become labels");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.send(Method::GET, "/v2/nothing", None, None).await;
    let problem = answer.problem(404);
    assert_eq!(problem["instance"], "/v2/nothing");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_that_names_the_allowed_ones() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.send(Method::DELETE, "/v1/tenants", None, None).await;
    let problem = answer.problem(405);
    assert!(answer.headers.contains_key("allow"));
    assert!(problem["detail"].as_str().unwrap().contains("POST"), "{}", answer.text);
}

#[tokio::test]
async fn problems_carry_the_request_path_as_instance() {
    let server = TestApp::start(Backend::Sqlite).await;
    let answer = server.send(Method::GET, "/v1/me", None, None).await;
    assert_eq!(answer.problem(401)["instance"], "/v1/me");
}
