//! Writing mapped values into a SCIM resource (RFC 7643), in place: plain
//! attributes, sub-attributes, filtered elements of multi-valued attributes
//! (`emails[type eq "work"].value`) and extension attributes. Applying the
//! mapping to the third party's current resource, rather than building a
//! fresh one, keeps every attribute Lockstep does not manage.

use serde_json::{Map, Value};

use super::mapping::{TargetPath, CORE_USER_SCHEMA};

/// Sets (or, for null, removes) one mapped value in a resource.
pub fn apply(resource: &mut Map<String, Value>, target: &TargetPath, value: Value) {
    let container = match &target.schema {
        Some(schema) => {
            if !value.is_null() {
                add_schema(resource, schema);
            }
            object_at(resource, schema)
        }
        None => resource,
    };
    match (&target.filter, &target.sub_attribute) {
        (Some(filter), Some(sub)) => {
            let list = match container.get_mut(&target.attribute) {
                Some(Value::Array(list)) => list,
                _ if value.is_null() => return,
                _ => {
                    container.insert(target.attribute.clone(), Value::Array(Vec::new()));
                    container.get_mut(&target.attribute).and_then(Value::as_array_mut).expect("just inserted")
                }
            };
            let position = list.iter().position(|e| e.get(&filter.attribute) == Some(&filter.value));
            match (position, value) {
                (Some(i), Value::Null) => {
                    if let Some(element) = list[i].as_object_mut() {
                        element.remove(sub);
                        // An element left with only its selector says nothing.
                        if element.keys().all(|k| k == &filter.attribute || k == "primary") {
                            list.remove(i);
                        }
                    }
                }
                (None, Value::Null) => {}
                (Some(i), value) => {
                    if let Some(element) = list[i].as_object_mut() {
                        element.insert(sub.clone(), value);
                    }
                }
                (None, value) => {
                    let mut element = Map::new();
                    element.insert(filter.attribute.clone(), filter.value.clone());
                    element.insert(sub.clone(), value);
                    list.push(Value::Object(element));
                }
            }
            if list.is_empty() {
                container.remove(&target.attribute);
            }
        }
        (None, Some(sub)) => {
            if value.is_null() {
                if let Some(Value::Object(inner)) = container.get_mut(&target.attribute) {
                    inner.remove(sub);
                    if inner.is_empty() {
                        container.remove(&target.attribute);
                    }
                }
            } else {
                object_at(container, &target.attribute).insert(sub.clone(), value);
            }
        }
        _ => {
            if value.is_null() {
                container.remove(&target.attribute);
            } else {
                container.insert(target.attribute.clone(), value);
            }
        }
    }
    if let Some(schema) = &target.schema {
        if matches!(resource.get(schema), Some(Value::Object(o)) if o.is_empty()) {
            resource.remove(schema);
        }
    }
}

/// The value a resource holds at a target, `None` when it holds none (an
/// absent attribute and a null are the same to SCIM). Attribute names are
/// matched exactly first, then without regard to case (RFC 7643 §2.1), so a
/// provider that spells `username` still compares equal.
pub fn get<'r>(resource: &'r Map<String, Value>, target: &TargetPath) -> Option<&'r Value> {
    let container = match &target.schema {
        Some(schema) => member(resource, schema)?.as_object()?,
        None => resource,
    };
    let value = member(container, &target.attribute)?;
    let value = match (&target.filter, &target.sub_attribute) {
        (Some(filter), Some(sub)) => {
            let element = value
                .as_array()?
                .iter()
                .find(|e| e.as_object().and_then(|e| member(e, &filter.attribute)) == Some(&filter.value))?;
            member(element.as_object()?, sub)?
        }
        (None, Some(sub)) => member(value.as_object()?, sub)?,
        _ => value,
    };
    (!value.is_null()).then_some(value)
}

/// A member of an object by name, exactly or else ignoring case.
fn member<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.get(name).or_else(|| map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value))
}

/// A new resource for `external_id`, active, with the core schema.
pub fn new_user(external_id: &str) -> Map<String, Value> {
    let mut resource = Map::new();
    resource.insert("schemas".into(), Value::Array(vec![Value::String(CORE_USER_SCHEMA.into())]));
    resource.insert("externalId".into(), Value::String(external_id.into()));
    resource.insert("active".into(), Value::Bool(true));
    resource
}

fn add_schema(resource: &mut Map<String, Value>, schema: &str) {
    let schemas =
        resource.entry("schemas").or_insert_with(|| Value::Array(vec![Value::String(CORE_USER_SCHEMA.into())]));
    if let Value::Array(list) = schemas {
        if !list.iter().any(|s| s.as_str() == Some(schema)) {
            list.push(Value::String(schema.into()));
        }
    }
}

fn object_at<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    if !matches!(map.get(key), Some(Value::Object(_))) {
        map.insert(key.to_owned(), Value::Object(Map::new()));
    }
    map.get_mut(key).and_then(Value::as_object_mut).expect("just ensured an object")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> TargetPath {
        TargetPath::parse(s).unwrap()
    }

    #[test]
    fn builds_nested_filtered_and_extension_values() {
        let mut r = new_user("e1");
        apply(&mut r, &t("userName"), json!("ada@x"));
        apply(&mut r, &t("name.givenName"), json!("Ada"));
        apply(&mut r, &t("emails[type eq \"work\"].value"), json!("ada@x"));
        apply(&mut r, &t("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), json!("Eng"));
        assert_eq!(
            Value::Object(r),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "e1", "active": true, "userName": "ada@x",
                "name": {"givenName": "Ada"},
                "emails": [{"type": "work", "value": "ada@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Eng"}
            })
        );
    }

    #[test]
    fn updates_in_place_and_keeps_unmanaged_attributes() {
        let mut r = json!({
            "userName": "a", "nickName": "kept",
            "emails": [{"type": "home", "value": "h@x"}, {"type": "work", "value": "old@x", "primary": true}]
        })
        .as_object()
        .unwrap()
        .clone();
        apply(&mut r, &t("emails[type eq \"work\"].value"), json!("new@x"));
        assert_eq!(r["emails"][1], json!({"type": "work", "value": "new@x", "primary": true}));
        assert_eq!(r["nickName"], json!("kept"));
    }

    #[test]
    fn get_reads_every_kind_of_target_and_treats_null_as_absent() {
        let mut r = new_user("e1");
        apply(&mut r, &t("userName"), json!("ada@x"));
        apply(&mut r, &t("name.givenName"), json!("Ada"));
        apply(&mut r, &t("emails[type eq \"work\"].value"), json!("ada@work"));
        apply(&mut r, &t("urn:x:ext:department"), json!("Eng"));
        r.insert("title".into(), Value::Null);
        assert_eq!(get(&r, &t("userName")), Some(&json!("ada@x")));
        assert_eq!(get(&r, &t("USERNAME")), Some(&json!("ada@x")), "names ignore case");
        assert_eq!(get(&r, &t("name.givenName")), Some(&json!("Ada")));
        assert_eq!(get(&r, &t("emails[type eq \"work\"].value")), Some(&json!("ada@work")));
        assert_eq!(get(&r, &t("emails[type eq \"home\"].value")), None);
        assert_eq!(get(&r, &t("urn:x:ext:department")), Some(&json!("Eng")));
        assert_eq!(get(&r, &t("title")), None);
        assert_eq!(get(&r, &t("nickName")), None);
    }

    #[test]
    fn null_removes_and_cleans_up() {
        let mut r = new_user("e1");
        apply(&mut r, &t("emails[type eq \"work\"].value"), json!("a@x"));
        apply(&mut r, &t("name.givenName"), json!("A"));
        apply(&mut r, &t("urn:x:ext:department"), json!("Eng"));
        apply(&mut r, &t("emails[type eq \"work\"].value"), Value::Null);
        apply(&mut r, &t("name.givenName"), Value::Null);
        apply(&mut r, &t("urn:x:ext:department"), Value::Null);
        assert!(!r.contains_key("emails") && !r.contains_key("name") && !r.contains_key("urn:x:ext"));
    }
}
