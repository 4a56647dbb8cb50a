//! Unit tests of PATCH application ([`super`]): each RFC 7644 §3.5.2 form the
//! sandbox accepts, on a User's stored attributes.

use serde_json::{json, Map, Value};

use super::*;
use crate::schema::ENTERPRISE_SCHEMA;

const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ada() -> Map<String, Value> {
    let user = json!({
        "userName": "ada",
        "title": "Engineer",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@work.example", "type": "work", "primary": true},
            {"value": "ada@home.example", "type": "home"},
        ],
        ENTERPRISE_SCHEMA: {"department": "R&D", "costCenter": "42"},
    });
    match user {
        Value::Object(map) => map,
        _ => unreachable!("a literal object"),
    }
}

fn patched(operations: Value) -> Result<Value, ScimError> {
    let mut user = ada();
    let ops = parse(&json!({"schemas": [PATCH_SCHEMA], "Operations": operations}))?;
    apply(&mut user, &ops)?;
    Ok(Value::Object(user))
}

fn ok(operations: Value) -> Value {
    patched(operations).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

#[test]
fn replace_with_a_simple_path_sets_the_attribute() {
    let user = ok(json!([{"op": "replace", "path": "title", "value": "CTO"}]));
    assert_eq!(user["title"], "CTO");
}

#[test]
fn op_names_and_attribute_names_are_case_insensitive() {
    let user = ok(json!([{"op": "Replace", "path": "TITLE", "value": "CTO"}]));
    assert_eq!(user["title"], "CTO");
}

#[test]
fn replace_a_sub_attribute_keeps_the_others() {
    let user = ok(json!([{"op": "replace", "path": "name.familyName", "value": "Byron"}]));
    assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "Byron"}));
}

#[test]
fn add_a_complex_value_merges_sub_attributes() {
    let user = ok(json!([{"op": "add", "path": "name", "value": {"middleName": "King"}}]));
    assert_eq!(user["name"]["middleName"], "King");
    assert_eq!(user["name"]["givenName"], "Ada");
}

#[test]
fn add_to_a_multi_valued_attribute_appends_and_moves_primary() {
    let user = ok(json!([{"op": "add", "path": "emails", "value": [{"value": "a@new.example", "primary": true}]}]));
    let emails = user["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 3);
    assert_eq!(emails[0]["primary"], false);
    assert_eq!(emails[2]["primary"], true);
}

#[test]
fn replace_through_a_value_filter_changes_only_matching_values() {
    let user =
        ok(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "lovelace@work.example"}]));
    assert_eq!(user["emails"][0]["value"], "lovelace@work.example");
    assert_eq!(user["emails"][1]["value"], "ada@home.example");
}

#[test]
fn replace_through_an_unmatched_eq_filter_creates_the_value() {
    let user = ok(json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@other.example"}]));
    assert_eq!(user["emails"][2], json!({"type": "other", "value": "x@other.example"}));
}

#[test]
fn remove_through_a_value_filter_drops_matching_values() {
    let user = ok(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
    assert_eq!(user["emails"].as_array().map(Vec::len), Some(1));
    let user = ok(json!([{"op": "remove", "path": "emails[type eq \"nothing\"]"}]));
    assert_eq!(user["emails"].as_array().map(Vec::len), Some(2));
}

#[test]
fn remove_without_filter_drops_the_attribute() {
    let user = ok(json!([{"op": "remove", "path": "emails"}, {"op": "remove", "path": "name.givenName"}]));
    assert!(user.get("emails").is_none());
    assert_eq!(user["name"], json!({"familyName": "Lovelace"}));
}

#[test]
fn extension_paths_with_urn_prefix_and_whole_extension() {
    let dept = format!("{ENTERPRISE_SCHEMA}:department");
    let user = ok(json!([{"op": "replace", "path": dept, "value": "Ops"}]));
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "Ops");
    assert_eq!(user[ENTERPRISE_SCHEMA]["costCenter"], "42");

    let user = ok(json!([{"op": "add", "path": ENTERPRISE_SCHEMA, "value": {"division": "North"}}]));
    assert_eq!(user[ENTERPRISE_SCHEMA]["division"], "North");
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "R&D");

    let user = ok(json!([{"op": "remove", "path": ENTERPRISE_SCHEMA}]));
    assert!(user.get(ENTERPRISE_SCHEMA).is_none());

    let user = ok(
        json!([{"op": "remove", "path": format!("{ENTERPRISE_SCHEMA}:department")}, {"op": "remove", "path": format!("{ENTERPRISE_SCHEMA}:costCenter")}]),
    );
    assert!(user.get(ENTERPRISE_SCHEMA).is_none(), "an emptied extension disappears");
}

#[test]
fn no_path_values_may_use_dotted_and_urn_keys() {
    let user = ok(json!([{"op": "replace", "value": {
        "active": "False",
        "name.familyName": "Byron",
        ENTERPRISE_SCHEMA: {"department": "Ops"},
        "id": "ignored",
    }}]));
    assert_eq!(user["active"], false);
    assert_eq!(user["name"]["familyName"], "Byron");
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "Ops");
    assert!(user.get("id").is_none());
}

#[test]
fn invalid_operations_are_scim_errors() {
    let cases = [
        (json!([{"op": "move", "path": "title"}]), "invalidSyntax"),
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "add", "path": "shoeSize", "value": 1}]), "invalidPath"),
        (json!([{"op": "add", "path": "emails[type eq", "value": 1}]), "invalidPath"),
        (json!([{"op": "replace", "path": "groups", "value": []}]), "mutability"),
        (json!([{"op": "remove", "path": "userName"}]), "invalidValue"),
        (json!([{"op": "replace", "path": "active", "value": 7}]), "invalidValue"),
        (json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "a"}]), "noTarget"),
    ];
    for (operations, scim_type) in cases {
        let err = patched(operations.clone()).expect_err("should fail");
        assert_eq!(err.scim_type, Some(scim_type), "{operations}: {err}");
    }
    let err = parse(&json!({"Operations": "nope"})).expect_err("not a list");
    assert_eq!(err.scim_type, Some("invalidSyntax"));
}
