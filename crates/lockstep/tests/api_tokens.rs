//! Admins' bearer tokens through the HTTP API — listed without their value,
//! made with an expiry, revoked, refused at once by every process — and the
//! token `/metrics` can require.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::api::*;
use support::app::{t0, TestApp};
use support::Backend;

/// The ids of a token list.
fn ids(list: &Value) -> Vec<i64> {
    list["data"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// Makes a token through `app` with `body`; answers its id and value.
async fn make_token(app: &TestApp, token: &str, body: Value) -> (i64, String) {
    let answer = app.post("/v1/tokens", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    (answer.body["id"].as_i64().unwrap(), answer.body["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn tokens_are_listed_by_their_prefix_never_their_value() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let answer = app.post("/v1/tokens", &acme.token, json!({"label": "CI pipeline"})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let made = answer.body.clone();
    let value = made["token"].as_str().unwrap();
    assert!(value.starts_with("lst_") && value != acme.token);
    assert_eq!(made["admin_id"], acme.admin_id, "made for the caller by default");
    assert_eq!((made["label"].as_str(), made["status"].as_str()), (Some("CI pipeline"), Some("active")));
    assert_eq!(made["prefix"].as_str().unwrap(), &value[..10]);
    assert_eq!((&made["expires_at"], &made["revoked_at"]), (&Value::Null, &Value::Null));
    assert_eq!(app.get("/v1/me", value).await.body["admin"]["id"], acme.admin_id, "the new token signs in");

    let list = app.get("/v1/tokens", &acme.token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(ids(&list.body).len(), 2, "the first token and the new one: {}", list.text);
    assert_eq!(list.body["data"][0]["prefix"].as_str().unwrap(), &acme.token[..10]);
    for secret in [value, acme.token.as_str()] {
        assert!(!list.text.contains(secret), "a listing never holds a token: {}", list.text);
        assert!(!list.text.contains(&secret[10..20]), "nor more of it than the prefix: {}", list.text);
    }
    assert!(!list.text.contains("hash"), "{}", list.text);
    let one = app.get(&format!("/v1/tokens/{}", made["id"]), &acme.token).await;
    assert_eq!(one.body["label"], "CI pipeline", "{}", one.text);
    assert!(one.body.get("token").is_none(), "{}", one.text);
}

#[tokio::test]
async fn a_token_for_another_admin_signs_in_as_them_and_lists_under_them() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let grace = app.post("/v1/admins", &acme.token, json!({"email": "grace@acme.test", "name": "Grace"})).await;
    let grace_id = grace.body["admin"]["id"].as_i64().unwrap();
    let (id, value) = make_token(&app, &acme.token, json!({"admin_id": grace_id, "label": "for Grace"})).await;
    assert_eq!(app.get("/v1/me", &value).await.body["admin"]["email"], "grace@acme.test");

    let hers = app.get(&format!("/v1/tokens?admin_id={grace_id}"), &acme.token).await;
    assert_eq!(ids(&hers.body).len(), 2, "her first token and this one: {}", hers.text);
    assert_eq!(ids(&hers.body)[1], id);
    app.get("/v1/tokens?admin_id=grace", &acme.token).await.problem(400);
}

#[tokio::test]
async fn a_token_expires_at_the_instant_it_was_given() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let (id, value) = make_token(&app, &acme.token, json!({"expires_in_seconds": 3600})).await;
    let shown = app.get(&format!("/v1/tokens/{id}"), &acme.token).await;
    assert_eq!(time(&shown.body["expires_at"]), t0() + chrono::Duration::hours(1));

    app.advance(3599.0);
    assert_eq!(app.get("/v1/me", &value).await.status, StatusCode::OK, "a second before its expiry");
    app.advance(1.0);
    let refused = app.get("/v1/me", &value).await;
    let problem = refused.problem(401);
    assert!(problem["detail"].as_str().unwrap().contains("expired"), "{}", refused.text);
    assert!(refused.headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_eq!(app.get(&format!("/v1/tokens/{id}"), &acme.token).await.body["status"], "expired");

    let at = (t0() + chrono::Duration::days(30)).to_rfc3339();
    let (_, dated) = make_token(&app, &acme.token, json!({"expires_at": at})).await;
    app.advance(30.0 * 86400.0 - 3601.0);
    assert_eq!(app.get("/v1/me", &dated).await.status, StatusCode::OK);
    app.advance(1.0);
    app.get("/v1/me", &dated).await.problem(401);
}

#[tokio::test]
async fn an_expiry_in_the_past_too_far_ahead_or_given_twice_is_a_422_naming_it() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let cases = [
        (json!({"expires_at": (t0() - chrono::Duration::seconds(1)).to_rfc3339()}), "expires_at"),
        (json!({"expires_at": (t0() + chrono::Duration::days(366)).to_rfc3339()}), "expires_at"),
        (json!({"expires_at": "next tuesday"}), "expires_at"),
        (json!({"expires_in_seconds": 0}), "expires_in_seconds"),
        (json!({"expires_in_seconds": 31_536_001}), "expires_in_seconds"),
        (json!({"expires_in_seconds": 60, "expires_at": t0().to_rfc3339()}), "expires_in_seconds"),
        (json!({"label": ""}), "label"),
        (json!({"scopes": ["all"]}), "scopes"),
    ];
    for (body, field) in cases {
        let answer = app.post("/v1/tokens", &acme.token, body.clone()).await;
        answer.problem(422);
        assert_eq!(answer.error_fields(), [field], "{body}: {}", answer.text);
    }
    assert_eq!(ids(&app.get("/v1/tokens", &acme.token).await.body).len(), 1, "nothing was made");
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_keeps_its_first_revocation_time() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let (id, value) = make_token(&app, &acme.token, json!({"label": "laptop"})).await;
    let revoked = app.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(&acme.token), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!((revoked.body["status"].as_str(), time(&revoked.body["revoked_at"])), (Some("revoked"), t0()));

    let refused = app.get("/v1/me", &value).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("revoked"), "{}", refused.text);
    assert_eq!(app.get("/v1/me", &acme.token).await.status, StatusCode::OK, "only that token");

    app.advance(60.0);
    let again = app.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(&acme.token), None).await;
    assert_eq!(time(&again.body["revoked_at"]), t0(), "{}", again.text);
    let listed = app.get("/v1/tokens", &acme.token).await;
    assert_eq!(listed.body["data"][1]["status"], "revoked", "a revoked token stays listed: {}", listed.text);

    // An admin may revoke the very token it calls with.
    let own = app.get("/v1/tokens", &value).await;
    own.problem(401);
    let first = ids(&listed.body)[0];
    let revoked = app.send(Method::POST, &format!("/v1/tokens/{first}/revoke"), Some(&acme.token), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    app.get("/v1/me", &acme.token).await.problem(401);
}

#[tokio::test]
async fn another_tenants_tokens_and_admins_are_not_found() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let (id, value) = make_token(&app, &acme.token, json!({})).await;

    app.get(&format!("/v1/tokens/{id}"), &globex.token).await.problem(404);
    app.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(&globex.token), None).await.problem(404);
    assert_eq!(app.get("/v1/me", &value).await.status, StatusCode::OK, "still acme's, still working");
    let theirs = app.get(&format!("/v1/tokens?admin_id={}", acme.admin_id), &globex.token).await;
    assert_eq!(ids(&theirs.body), Vec::<i64>::new(), "{}", theirs.text);
    assert_eq!(ids(&app.get("/v1/tokens", &globex.token).await.body).len(), 1);

    let stolen = app.post("/v1/tokens", &globex.token, json!({"admin_id": acme.admin_id})).await;
    stolen.problem(422);
    assert_eq!(stolen.error_fields(), ["admin_id"]);
    app.get("/v1/tokens/999999", &acme.token).await.problem(404);
    app.get("/v1/tokens/abc", &acme.token).await.problem(400);
}

/// Every process asks the store about the token on every request: a token
/// revoked through one process is refused by another on its very next
/// request, with no window in which it still works.
async fn a_token_revoked_through_one_process_is_refused_by_another_at_once(backend: Backend) {
    let a = TestApp::start(backend).await;
    let url = a.database_url.clone();
    let b = TestApp::start_with(backend, move |config| config.database_url = url).await;
    let acme = a.tenant("acme").await;
    let (id, value) = make_token(&a, &acme.token, json!({"label": "ci"})).await;

    for _ in 0..3 {
        assert_eq!(b.get("/v1/me", &value).await.status, StatusCode::OK, "used on B");
    }
    let revoked = a.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(&acme.token), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    let refused = b.get("/v1/me", &value).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().contains("revoked"), "{}", refused.text);
    b.get("/v1/integrations", &value).await.problem(401);
    assert_eq!(b.get("/v1/me", &acme.token).await.status, StatusCode::OK);
}
both_backends!(a_token_revoked_through_one_process_is_refused_by_another_at_once);

/// Every admin's token works as before, and is listed: the first token of a
/// tenant or an admin is a token like any other.
async fn first_tokens_are_tokens_like_any_other(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    let list = app.get("/v1/tokens", &acme.token).await;
    assert_eq!(list.body["data"][0]["admin_id"], acme.admin_id, "{}", list.text);
    let first = ids(&list.body)[0];
    let (_, second) = make_token(&app, &acme.token, json!({"expires_in_seconds": 60})).await;
    let revoked = app.send(Method::POST, &format!("/v1/tokens/{first}/revoke"), Some(&second), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    app.get("/v1/me", &acme.token).await.problem(401);
    app.advance(60.0);
    app.get("/v1/me", &second).await.problem(401);
}
both_backends!(first_tokens_are_tokens_like_any_other);

const METRICS_TOKEN: &str = "metrics-token-for-tests";

#[tokio::test]
async fn metrics_take_the_metrics_token_when_one_is_set() {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.metrics_token = Some(METRICS_TOKEN.into())).await;
    let acme = app.tenant("acme").await;

    let missing = app.send(Method::GET, "/metrics", None, None).await;
    missing.problem(401);
    assert!(missing.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    app.send(Method::GET, "/metrics", Some("metrics-token-for-test"), None).await.problem(401);
    app.send(Method::GET, "/metrics", Some(&acme.token), None).await.problem(401);

    let allowed = app.send(Method::GET, "/metrics", Some(METRICS_TOKEN), None).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    assert!(allowed.text.contains("lockstep_sync_states"), "{}", allowed.text);
    assert_eq!(app.send(Method::GET, "/healthz", None, None).await.status, StatusCode::OK, "health needs no token");
}

#[tokio::test]
async fn metrics_are_open_without_a_metrics_token() {
    let app = TestApp::start(Backend::Sqlite).await;
    assert_eq!(app.send(Method::GET, "/metrics", None, None).await.status, StatusCode::OK);
}

/// The sync-state gauges come from the store's kept counts, and follow
/// the states as they change.
async fn metrics_count_sync_states_by_status(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    app.integration(&acme.token, scim_integration("Okta", json!({"email": "userName"}))).await;
    app.integration(&acme.token, scim_integration("Workday", json!({"email": "userName"}))).await;
    for id in ["e1", "e2", "e3"] {
        app.put_employee(&acme.token, id, json!({"email": format!("{id}@acme.test")})).await;
    }
    let text = app.send(Method::GET, "/metrics", None, None).await.text;
    assert!(text.contains(r#"lockstep_sync_states{status="sync_pending"} 6"#), "{text}");
    assert!(text.contains(r#"lockstep_sync_states{status="synced"} 0"#), "{text}");
}
both_backends!(metrics_count_sync_states_by_status);
