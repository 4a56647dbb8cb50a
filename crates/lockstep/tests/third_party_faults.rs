//! A third party cannot stall other syncs: what one answers (control
//! characters, an id the store cannot keep, an endless body, a redirect, an
//! address inside the operator's network) ends its own sync and nobody
//! else's. Misbehaving third parties are in-process fault peers; the
//! well-behaved ones beside them are a real `scim2-server`. The worker is
//! stepped by hand on a manual clock, so "one claimed batch" is one
//! `run_once`.

mod support;

use lockstep::engine::write_sync::StepOutcome;
use reqwest::Method;
use serde_json::{json, Value};
use support::app::TestApp;
use support::fault_peer::{ConnectionCounter, FaultPeer, Reply};
use support::{Backend, ScimServer};

const GRACE: f64 = 300.0;
const FAULT_PEER_TOKEN: &str = "fault-peer-token-123";

/// An integration pushing email and first name to the SCIM service at `base_url`.
fn directory(name: &str, base_url: &str, token: &str) -> Value {
    json!({
        "name": name,
        "connector": {"kind": "scim", "base_url": base_url, "bearer_token": token},
        "field_mapping": {"email": "userName", "first_name": "name.givenName"},
        "grace_period_seconds": GRACE,
        "retry": {"max_attempts": 3, "initial_backoff_seconds": 1, "max_backoff_seconds": 8}
    })
}

fn employee(n: &str) -> Value {
    json!({"email": format!("{n}@example.test"), "first_name": n})
}

/// The sync entry of record `id` in `integration`.
async fn entry(app: &TestApp, token: &str, id: &str, integration: i64) -> Value {
    let record = app.employee(token, id).await;
    record["sync"]["integrations"]
        .as_array()
        .and_then(|list| list.iter().find(|i| i["integration_id"] == json!(integration)))
        .cloned()
        .unwrap_or_else(|| panic!("{id} has no state in integration {integration}: {record}"))
}

/// Whether any code or message of a sync entry's errors holds a control character.
fn errors_hold_control_characters(entry: &Value) -> bool {
    entry["errors"].as_array().into_iter().flatten().any(|error| {
        ["code", "message"].iter().any(|key| error[key].as_str().unwrap_or_default().chars().any(char::is_control))
    })
}

const EMPTY_LIST: &str =
    r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#;

async fn control_characters_from_one_third_party_fail_only_its_own_sync(backend: Backend) {
    let scim = ScimServer::start().await;
    // Both in JSON escapes, exactly as a third party sends them.
    let bad_error = FaultPeer::start(|_, _| {
        Reply::json(
            400,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalid\u0000Value","detail":"bad\u0000value\r\nfor\tuserName"}"#,
        )
    })
    .await;
    let bad_id = FaultPeer::start(|method, _| match *method {
        Method::GET => Reply::json(200, EMPTY_LIST),
        _ => Reply::json(201, r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u\u00001"}"#),
    })
    .await;
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await.token;
    let initech = app.tenant("initech").await.token;
    let globex = app.tenant("globex").await.token;
    let acme_directory = app.integration(&acme, directory("Directory", &bad_error.base_url, FAULT_PEER_TOKEN)).await;
    let initech_directory = app.integration(&initech, directory("Directory", &bad_id.base_url, FAULT_PEER_TOKEN)).await;
    let globex_directory = app.integration(&globex, directory("Directory", &scim.base_url, &scim.token)).await;
    app.put_employee(&acme, "e1", employee("ada")).await;
    app.put_employee(&initech, "e1", employee("bob")).await;
    app.put_employee(&globex, "e1", employee("cy")).await;
    app.put_employee(&globex, "e2", employee("di")).await;

    app.advance(GRACE + 1.0);
    let step = app.worker.run_once().await.expect("the step finishes every sync it claimed");
    assert_eq!(step, StepOutcome::Worked(4), "one claimed batch holds every tenant's syncs");

    let failed = entry(&app, &acme, "e1", acme_directory).await;
    assert_eq!(failed["status"], json!("sync_failed"), "{failed}");
    assert_eq!(failed["errors"][0]["code"], json!("invalid Value"));
    assert_eq!(failed["errors"][0]["message"], json!("400 bad value for userName"));
    assert!(!errors_hold_control_characters(&failed), "{failed}");
    assert_eq!(
        entry(&app, &initech, "e1", initech_directory).await["status"],
        json!("synced"),
        "an id with a NUL is not kept, the push stands"
    );
    for id in ["e1", "e2"] {
        assert_eq!(entry(&app, &globex, id, globex_directory).await["status"], json!("synced"));
        assert_eq!(scim.users_with_external_id(id).await.len(), 1);
    }

    let (error_requests, id_requests) = (bad_error.requests(), bad_id.requests());
    app.advance(GRACE + 1.0);
    assert_eq!(app.worker.run_once().await.unwrap(), StepOutcome::EmptyQueue, "nothing is pushed again");
    assert_eq!(bad_error.requests(), error_requests);
    assert_eq!(bad_id.requests(), id_requests);

    // Without the id, the next push finds the user by its externalId.
    let mut changed = employee("bob");
    changed["first_name"] = json!("Robert");
    app.put_employee(&initech, "e1", changed).await;
    app.advance(GRACE + 1.0);
    app.drain().await;
    assert_eq!(bad_id.requests(), id_requests + 2, "a look-up by externalId, then a create (the peer never finds)");
}
both_backends!(control_characters_from_one_third_party_fail_only_its_own_sync);

async fn an_answer_over_1_mib_ends_the_push_with_a_clear_message(backend: Backend) {
    let endless = FaultPeer::start(|_, _| Reply::endless(200)).await;
    let busy = FaultPeer::start(|_, _| Reply::endless(503).header("retry-after", "30")).await;
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await.token;
    let wrong_url = app.integration(&acme, directory("Wrong URL", &endless.base_url, FAULT_PEER_TOKEN)).await;
    let outage = app.integration(&acme, directory("Outage", &busy.base_url, FAULT_PEER_TOKEN)).await;
    app.put_employee(&acme, "e1", employee("ada")).await;

    app.advance(GRACE + 1.0);
    assert_eq!(app.worker.run_once().await.unwrap(), StepOutcome::Worked(2));

    let failed = entry(&app, &acme, "e1", wrong_url).await;
    assert_eq!(failed["status"], json!("sync_failed"), "a success too large to read is not retried: {failed}");
    assert_eq!(failed["errors"][0]["code"], json!("response_too_large"));
    let message = failed["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("200 OK with more than 1 MiB"), "{message}");
    assert!(message.contains("base URL"), "{message}");

    let retrying = entry(&app, &acme, "e1", outage).await;
    assert_eq!(retrying["status"], json!("syncing"), "an outage's page too large to read is retried: {retrying}");
    assert_eq!(retrying["errors"][0]["code"], json!("503"));
    assert!(retrying["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("503 Service Unavailable with more than 1 MiB"));
    app.advance(29.0);
    assert_eq!(app.worker.run_once().await.unwrap(), StepOutcome::EmptyQueue, "the retry honours Retry-After");
}
both_backends!(an_answer_over_1_mib_ends_the_push_with_a_clear_message);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let target = ConnectionCounter::start().await;
    let location = format!("{}/scim/Users", target.url());
    let redirecting = FaultPeer::start(move |_, _| Reply::json(307, "").header("location", &location)).await;
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await.token;
    let integration = app.integration(&acme, directory("Directory", &redirecting.base_url, FAULT_PEER_TOKEN)).await;
    app.put_employee(&acme, "e1", employee("ada")).await;
    app.advance(GRACE + 1.0);
    app.drain().await;

    let failed = entry(&app, &acme, "e1", integration).await;
    assert_eq!(failed["status"], json!("sync_failed"), "{failed}");
    assert_eq!(failed["errors"][0]["code"], json!("redirect"));
    let message = failed["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("307 Temporary Redirect"), "{message}");
    assert!(message.contains(&format!("{}/scim/Users", target.url())), "{message}");
    assert!(message.contains("does not follow redirects"), "{message}");
    assert_eq!(redirecting.requests(), 1);
    assert_eq!(target.accepted(), 0, "the redirect's target was never contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_is_refused_unless_loopback_is_allowed() {
    let scim = ScimServer::start().await;
    let by_name = format!("http://localhost:{}", scim.port);

    let guarded = TestApp::start_with(Backend::Sqlite, |c| c.outbound_allow.clear()).await;
    let acme = guarded.tenant("acme").await.token;
    // An IP literal is judged when the integration is saved, and the tenant
    // is not told which address or range it hit.
    let answer = guarded.post("/v1/integrations", &acme, directory("Directory", &scim.base_url, &scim.token)).await;
    let problem = answer.problem(422);
    assert_eq!(answer.error_fields(), ["connector.base_url"]);
    assert_eq!(problem["errors"][0]["message"], json!("the third party's address is not allowed"));
    assert!(!answer.text.contains("loopback") && !answer.text.contains("127.0.0.0"), "{}", answer.text);
    // A name is judged when it resolves, before connecting.
    let integration = guarded.integration(&acme, directory("Directory", &by_name, &scim.token)).await;
    guarded.put_employee(&acme, "e1", employee("ada")).await;
    guarded.advance(GRACE + 1.0);
    guarded.drain().await;
    let failed = entry(&guarded, &acme, "e1", integration).await;
    assert_eq!(failed["status"], json!("sync_failed"), "a refused address is not retried: {failed}");
    assert_eq!(failed["errors"][0]["code"], json!("address_not_allowed"));
    assert_eq!(failed["errors"][0]["message"], json!("the third party's address is not allowed"));
    assert!(scim.users().await.is_empty(), "the third party received nothing");

    let allowed = TestApp::start_with(Backend::Sqlite, |c| {
        c.outbound_allow = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    })
    .await;
    let acme = allowed.tenant("acme").await.token;
    let integration = allowed.integration(&acme, directory("Directory", &by_name, &scim.token)).await;
    allowed.put_employee(&acme, "e1", employee("ada")).await;
    allowed.advance(GRACE + 1.0);
    allowed.drain().await;
    assert_eq!(entry(&allowed, &acme, "e1", integration).await["status"], json!("synced"));
    assert_eq!(scim.users_with_external_id("e1").await.len(), 1);
}
