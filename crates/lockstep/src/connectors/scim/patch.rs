//! The SCIM PATCH (RFC 7644 §3.5.2) an update sends: one operation per
//! mapped attribute and one for `active`, so an update is one request and
//! every attribute Lockstep does not map is left as the third party has it.
//!
//! - A value is a `replace` at the attribute's path; a `replace` of an
//!   attribute that is not there adds it (§3.5.2.3).
//! - A null is a `remove`. For an element of a multi-valued attribute
//!   (`emails[type eq "work"].value`) the whole element is removed when none
//!   of its mapped sub-attributes has a value: a work email without an
//!   address says nothing. A `remove` of something not there changes
//!   nothing and succeeds (§3.5.2.2).
//!
//! One case depends on what the third party holds: a value for an element
//! that does not exist yet, such as the first work email of a user created
//! without one. RFC 7644 has a `replace` through a filter that matches
//! nothing fail with `noTarget`, and strict providers (scim2-server) do;
//! lenient ones create the element. Without the user's current state the
//! operations assume the element is there, which is nearly always so; given
//! it, an element that is missing is added whole with `add`. The connector
//! reads the user and sends again only after a `noTarget`, so the common
//! update stays one request.

use serde_json::{json, Map, Value};

use crate::domain::mapping::{TargetPath, ValueFilter};

/// The URN of a PATCH request body.
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The PATCH body that sets `values` and `active`. `current` is the user as
/// the third party holds it, when known.
pub fn body(values: &[(&TargetPath, Value)], active: bool, current: Option<&Map<String, Value>>) -> Value {
    let mut operations = Vec::new();
    // An element's targets are sent together, where the first of them is.
    let mut elements_sent: Vec<&TargetPath> = Vec::new();
    for (target, value) in values {
        let Some(filter) = &target.filter else {
            operations.push(operation(&path(target), value));
            continue;
        };
        if elements_sent.iter().any(|sent| same_element(sent, target)) {
            continue;
        }
        elements_sent.push(target);
        let element: Vec<&(&TargetPath, Value)> =
            values.iter().filter(|(other, _)| same_element(target, other)).collect();
        let given: Vec<&(&TargetPath, Value)> = element.iter().copied().filter(|(_, v)| !v.is_null()).collect();
        if given.is_empty() {
            operations.push(json!({"op": "remove", "path": element_path(target, filter)}));
        } else if current.is_some_and(|user| !has_element(user, target, filter)) {
            let mut new = Map::new();
            new.insert(filter.attribute.clone(), filter.value.clone());
            for (t, v) in &given {
                if let Some(sub) = &t.sub_attribute {
                    new.insert(sub.clone(), v.clone());
                }
            }
            operations.push(json!({"op": "add", "path": attribute_path(target), "value": [new]}));
        } else {
            operations.extend(element.iter().map(|(t, v)| operation(&path(t), v)));
        }
    }
    operations.push(json!({"op": "replace", "path": "active", "value": active}));
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// Whether any target goes through a filter: only those can meet `noTarget`.
pub fn has_filtered_targets(values: &[(&TargetPath, Value)]) -> bool {
    values.iter().any(|(target, value)| target.filter.is_some() && !value.is_null())
}

fn operation(path: &str, value: &Value) -> Value {
    if value.is_null() {
        json!({"op": "remove", "path": path})
    } else {
        json!({"op": "replace", "path": path, "value": value})
    }
}

fn same_element(a: &TargetPath, b: &TargetPath) -> bool {
    b.filter.is_some() && a.schema == b.schema && a.attribute == b.attribute && a.filter == b.filter
}

/// `attribute`, prefixed by its extension's URN.
fn attribute_path(target: &TargetPath) -> String {
    match &target.schema {
        Some(schema) => format!("{schema}:{}", target.attribute),
        None => target.attribute.clone(),
    }
}

/// `attribute[filter]`.
fn element_path(target: &TargetPath, filter: &ValueFilter) -> String {
    // A filter value is a JSON string, number or boolean: its JSON text is
    // the SCIM filter's literal.
    format!("{}[{} eq {}]", attribute_path(target), filter.attribute, filter.value)
}

/// The whole path of a target: `urn:…:attribute[filter].sub`.
fn path(target: &TargetPath) -> String {
    let head = match &target.filter {
        Some(filter) => element_path(target, filter),
        None => attribute_path(target),
    };
    match &target.sub_attribute {
        Some(sub) => format!("{head}.{sub}"),
        None => head,
    }
}

/// Whether `user` holds an element of the target's attribute that its filter
/// selects.
fn has_element(user: &Map<String, Value>, target: &TargetPath, filter: &ValueFilter) -> bool {
    let container = match &target.schema {
        Some(schema) => user.get(schema).and_then(Value::as_object),
        None => Some(user),
    };
    container
        .and_then(|c| c.get(&target.attribute))
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|e| e.get(&filter.attribute) == Some(&filter.value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TargetPath {
        TargetPath::parse(s).unwrap()
    }

    fn operations(body: Value) -> Vec<Value> {
        assert_eq!(body["schemas"], json!([PATCH_OP]));
        body["Operations"].as_array().unwrap().clone()
    }

    #[test]
    fn each_mapped_value_is_one_operation_and_active_comes_last() {
        let (user_name, given, dept) = (
            t("userName"),
            t("name.givenName"),
            t("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        );
        let values = [(&user_name, json!("ada@x")), (&given, Value::Null), (&dept, json!("Eng"))];
        assert_eq!(
            operations(body(&values, true, None)),
            vec![
                json!({"op": "replace", "path": "userName", "value": "ada@x"}),
                json!({"op": "remove", "path": "name.givenName"}),
                json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Eng"}),
                json!({"op": "replace", "path": "active", "value": true}),
            ]
        );
    }

    #[test]
    fn a_core_schema_prefix_is_not_sent() {
        let user_name = t("urn:ietf:params:scim:schemas:core:2.0:User:userName");
        let ops = operations(body(&[(&user_name, json!("a"))], true, None));
        assert_eq!(ops[0]["path"], json!("userName"));
    }

    #[test]
    fn a_deactivation_only_sets_active() {
        assert_eq!(
            operations(body(&[], false, None)),
            vec![json!({"op": "replace", "path": "active", "value": false})]
        );
    }

    #[test]
    fn an_element_is_replaced_through_its_filter_when_it_may_exist() {
        let work = t("emails[type eq \"work\"].value");
        let ops = operations(body(&[(&work, json!("a@x"))], true, None));
        assert_eq!(ops[0], json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@x"}));
        let current = json!({"emails": [{"type": "work", "value": "old@x", "primary": true}]});
        let ops = operations(body(&[(&work, json!("a@x"))], true, current.as_object()));
        assert_eq!(ops[0]["op"], json!("replace"), "the element is there: its other sub-attributes stay");
    }

    #[test]
    fn a_missing_element_is_added_whole_when_the_user_is_known() {
        let (work, display) = (t("emails[type eq \"work\"].value"), t("emails[type eq \"work\"].display"));
        let current = json!({"emails": [{"type": "home", "value": "h@x"}]});
        let values = [(&work, json!("a@x")), (&display, json!("Ada"))];
        let ops = operations(body(&values, true, current.as_object()));
        assert_eq!(
            ops,
            vec![
                json!({"op": "add", "path": "emails", "value": [{"type": "work", "value": "a@x", "display": "Ada"}]}),
                json!({"op": "replace", "path": "active", "value": true}),
            ]
        );
    }

    #[test]
    fn an_element_without_any_value_is_removed_whole() {
        let (work, display) = (t("emails[type eq \"work\"].value"), t("emails[type eq \"work\"].display"));
        let ops = operations(body(&[(&work, Value::Null), (&display, Value::Null)], true, None));
        assert_eq!(ops[0], json!({"op": "remove", "path": "emails[type eq \"work\"]"}));
        assert_eq!(ops.len(), 2);
        let ops = operations(body(&[(&work, json!("a@x")), (&display, Value::Null)], true, None));
        assert_eq!(ops[1], json!({"op": "remove", "path": "emails[type eq \"work\"].display"}));
    }

    #[test]
    fn filter_values_are_quoted_as_scim_literals() {
        let phone = t("phoneNumbers[type eq \"a \\\"b\\\"\"].value");
        let ops = operations(body(&[(&phone, Value::Null)], true, None));
        assert_eq!(ops[0]["path"], json!("phoneNumbers[type eq \"a \\\"b\\\"\"]"));
    }
}
