//! Bad text is refused alike on both stores, with a problem that names the
//! field, and nothing of the request is stored.
//!
//! PostgreSQL cannot keep U+0000 in `text` or `jsonb` and SQLite can, so a
//! check left to the store would answer 500 on one and store the other.
//! Names, emails, ids and field names refuse every control character; the
//! text values of a record's fields refuse U+0000 only (a newline in an
//! address is data). Numbers at the edges of a double round-trip exactly.

mod support;

use serde_json::{json, Value};
use support::api::*;
use support::app::{TestApp, OPERATOR_TOKEN};
use support::Backend;

fn assert_names(answer: &Answer, status: u16, field: &str) {
    answer.problem(status);
    assert_eq!(answer.error_fields(), [field], "{}", answer.text);
}

async fn control_characters_in_names_emails_and_ids_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let tenant = |body: Value| app.send(reqwest::Method::POST, "/v1/tenants", Some(OPERATOR_TOKEN), Some(body));
    let admin = json!({"email": "a@acme.test", "name": "Ada"});
    assert_names(&tenant(json!({"name": "Ac\u{0}me", "admin": admin})).await, 422, "name");
    assert_names(
        &tenant(json!({"name": "Acme", "admin": {"email": "a\u{0}@acme.test", "name": "Ada"}})).await,
        422,
        "admin.email",
    );
    assert_names(
        &tenant(json!({"name": "Acme", "admin": {"email": "a@acme.test", "name": "A\nda"}})).await,
        422,
        "admin.name",
    );

    let acme = app.tenant("acme").await;
    let token = &acme.token;
    assert_names(&app.post("/v1/admins", token, json!({"email": "b@acme.test", "name": "B\u{7}"})).await, 422, "name");
    assert_names(&app.post("/v1/admins", token, json!({"email": "b@acme\u{0}.test", "name": "B"})).await, 422, "email");
    let admins = app.get("/v1/admins", token).await;
    assert_eq!(admins.body["data"].as_array().unwrap().len(), 1, "only the first admin: {}", admins.text);

    let mut integration = scim_integration("Dir\u{0}ectory", json!({"email": "userName"}));
    assert_names(&app.post("/v1/integrations", token, integration.clone()).await, 422, "name");
    integration["name"] = json!("Directory");
    integration["connector"]["bearer_token"] = json!("tok\u{0}en");
    assert_names(&app.post("/v1/integrations", token, integration.clone()).await, 422, "connector.bearer_token");
    integration["connector"]["bearer_token"] = json!("token");
    integration["eligibility"] = json!([{"field": "status", "op": "eq", "value": "act\u{0}ive"}]);
    assert_names(&app.post("/v1/integrations", token, integration.clone()).await, 422, "eligibility[0].value");
    integration["eligibility"] = json!([{"field": "status", "op": "in", "value": [{"a\u{0}": 1}]}]);
    assert_names(&app.post("/v1/integrations", token, integration).await, 422, "eligibility[0].value[0].a\\u{0}");
    assert_eq!(app.get("/v1/integrations", token).await.body["data"], json!([]));

    // In a path, a bad id or type is a bad parameter: 400 naming it.
    assert_names(&app.put("/v1/records/employee/e%001", token, json!({})).await, 400, "id");
    assert_names(&app.put("/v1/records/employee/e%0A1", token, json!({})).await, 400, "id");
    assert_names(&app.get("/v1/records/emp%00loyee", token).await, 400, "type");
    let batch = json!({"records": [{"id": "ok", "fields": {}}, {"id": "e\u{0}2", "fields": {}}]});
    assert_names(&app.post("/v1/records/employee/batch", token, batch).await, 422, "records[1].id");
    assert_eq!(app.get("/v1/records/employee", token).await.body["data"], json!([]), "nothing of the batch was stored");
}
both_backends!(control_characters_in_names_emails_and_ids_are_refused_naming_the_field);

async fn field_names_refuse_controls_and_text_values_refuse_nul(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    let token = &acme.token;
    let path = "/v1/records/employee/e-1";

    assert_names(&app.put(path, token, json!({"na\u{0}me": "Ada"})).await, 422, "na\\u{0}me");
    assert_names(&app.put(path, token, json!({"address": {"ci\u{1b}ty": "Delft"}})).await, 422, "address.ci\\u{1b}ty");
    assert_names(&app.put(path, token, json!({"address": {"city": "Del\u{0}ft"}})).await, 422, "address.city");
    assert_names(&app.put(path, token, json!({"tags": ["a", "\u{0}"]})).await, 422, "tags[1]");
    app.get(path, token).await.problem(404);

    let fields = json!({"address": "Oude Delft 1\nDelft", "note": "tab\there", "bell": "\u{7}"});
    let created = app.put(path, token, fields.clone()).await;
    assert_eq!(created.status, 201, "other control characters are data: {}", created.text);
    assert_eq!(app.get(path, token).await.body["fields"], fields);

    assert_names(&app.patch(path, token, json!({"note": "a\u{0}b"})).await, 422, "note");
    let batch = json!({"records": [
        {"id": "e-2", "fields": {"ok": 1}},
        {"id": "e-3", "fields": {"bad": "\u{0}"}},
        {"id": "e-4", "fields": {"ba\nd": 1}},
    ]});
    let refused = app.post("/v1/records/employee/batch", token, batch).await;
    refused.problem(422);
    assert_eq!(refused.error_fields(), ["records[1].fields.bad", "records[2].fields.ba\\nd"], "{}", refused.text);
    let read = app.get(path, token).await;
    assert_eq!((read.body["version"].clone(), read.body["fields"].clone()), (json!(1), fields), "unchanged");
    app.get("/v1/records/employee/e-2", token).await.problem(404);
}
both_backends!(field_names_refuse_controls_and_text_values_refuse_nul);

async fn numbers_at_the_edges_of_a_double_round_trip(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    let fields = json!({
        "largest": 1.797_693_134_862_315_7e308,
        "smallest": 5e-324,
        "tiny": -2.225_073_858_507_201_4e-308,
        "big_integer": 18_446_744_073_709_551_615_u64,
        "negative": -9_223_372_036_854_775_808_i64,
        "third": 0.333_333_333_333_333_3,
    });
    let created = app.put("/v1/records/employee/e-1", &acme.token, fields.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(app.get("/v1/records/employee/e-1", &acme.token).await.body["fields"], fields);

    let mut integration = scim_integration("Directory", json!({"email": "userName"}));
    integration["eligibility"] = json!([{"field": "score", "op": "ne", "value": 1.797_693_134_862_315_7e308}]);
    let created = app.post("/v1/integrations", &acme.token, integration).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let listed = app.get("/v1/integrations", &acme.token).await;
    assert_eq!(listed.status, 200, "the stored integration reads back: {}", listed.text);
    assert_eq!(listed.body["data"][0]["eligibility"][0]["value"], json!(1.797_693_134_862_315_7e308));
}
both_backends!(numbers_at_the_edges_of_a_double_round_trip);

#[tokio::test]
async fn reserved_scim_targets_are_refused_in_any_case() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    for target in
        ["externalId", "ExternalID", "ACTIVE", "Meta.created", "urn:ietf:params:scim:schemas:core:2.0:User:Id"]
    {
        let refused =
            app.post("/v1/integrations", &acme.token, scim_integration("Directory", json!({"email": target}))).await;
        assert_names(&refused, 422, "field_mapping");
        assert!(refused.body["detail"].as_str().unwrap().contains("managed by Lockstep"), "{}", refused.text);
    }
    let extension = "urn:ietf:params:scim:schemas:extension:acme:2.0:User:externalId";
    let created =
        app.post("/v1/integrations", &acme.token, scim_integration("Directory", json!({"email": extension}))).await;
    assert_eq!(created.status, 201, "an extension's attribute of that name is free: {}", created.text);
}
