//! Checking what a client writes against the schema: a POST/PUT body becomes
//! a User's stored attributes ([`parse_user`]) and a PATCH value becomes a
//! stored value ([`coerce`]), with canonical attribute names, declared types
//! enforced (booleans sent as "True"/"False" tolerated, as Entra ID sends
//! them) and unknown attributes refused with `invalidSyntax`. Null and empty
//! values mean "unassigned" and are dropped, so the store never holds them.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{canonical_urn, find, find_sub, AttrDef, Kind, USER_SCHEMA};

/// Checks `value` against `def` and returns it with canonical sub-attribute
/// names. `None` means "unassigned" (null or an empty list), which callers drop.
pub fn coerce(def: &AttrDef, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi {
        // A single value where a list is expected is accepted as a list of one,
        // as lenient directories do.
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(def, item)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    coerce_single(def, value)
}

/// Checks one value (an element, for a multi-valued attribute) against `def`.
pub fn coerce_single(def: &AttrDef, value: &Value) -> Result<Option<Value>, ScimError> {
    let mismatch = || {
        ScimError::invalid_value(format!(
            "attribute \"{}\" expects a {} value, got {value}",
            def.name,
            def.kind.as_str()
        ))
    };
    let coerced = match (def.kind, value) {
        (_, Value::Null) => return Ok(None),
        (Kind::Complex, Value::Object(fields)) => {
            let mut out = Map::new();
            for (key, v) in fields {
                let Some(sub) = find_sub(def, key) else {
                    return Err(ScimError::invalid_syntax(format!(
                        "unknown sub-attribute \"{key}\" of \"{}\"",
                        def.name
                    )));
                };
                if let Some(v) = coerce_single(sub, v)? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (Kind::Boolean, Value::Bool(_)) => value.clone(),
        // Some provisioning clients (Entra ID) send booleans as "True"/"False".
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (Kind::String | Kind::Binary | Kind::Reference, Value::String(_)) => value.clone(),
        _ => return Err(mismatch()),
    };
    Ok(Some(coerced))
}

/// Parses a full User representation (POST / PUT body) into its stored
/// attributes: canonical names, checked values, the extension under its URN.
/// Read-only attributes (`id`, `meta`, `groups`) and `schemas` are ignored, as
/// RFC 7644 §3.5.1 asks of a replace.
pub fn parse_user(body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::invalid_syntax("a User must be a JSON object"));
    };
    let mut out = Map::new();
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(urn) = canonical_urn(key) {
            if urn == USER_SCHEMA {
                return Err(ScimError::invalid_syntax("core attributes belong at the top level"));
            }
            let Value::Object(ext) = value else {
                return Err(ScimError::invalid_syntax(format!("\"{urn}\" must be an object")));
            };
            let mut parsed = Map::new();
            for (name, v) in ext.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
                let def = find(Some(urn), name).ok_or_else(|| unknown(name))?;
                if let Some(v) = coerce(def, v)? {
                    parsed.insert(def.name.to_string(), v);
                }
            }
            if !parsed.is_empty() {
                out.insert(urn.to_string(), Value::Object(parsed));
            }
            continue;
        }
        let def = find(None, key).ok_or_else(|| unknown(key))?;
        if def.mutability == "readOnly" {
            continue;
        }
        if let Some(v) = coerce(def, value)? {
            out.insert(def.name.to_string(), v);
        }
    }
    check_required(&out)?;
    Ok(out)
}

/// Checks the attributes a stored User must have (`userName`, non-empty).
pub fn check_required(attributes: &Map<String, Value>) -> Result<(), ScimError> {
    match attributes.get("userName") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(()),
        _ => Err(ScimError::invalid_value("attribute \"userName\" is required")),
    }
}

fn unknown(name: &str) -> ScimError {
    ScimError::invalid_syntax(format!("unknown attribute \"{name}\""))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::ENTERPRISE_SCHEMA;

    #[test]
    fn names_are_matched_case_insensitively_and_stored_canonically() {
        let parsed = parse_user(&json!({
            "schemas": [USER_SCHEMA],
            "USERNAME": "ada",
            "Name": {"FAMILYNAME": "Lovelace"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Department": "R&D"},
            "id": "ignored",
        }))
        .expect("valid user");
        assert_eq!(
            Value::Object(parsed),
            json!({
                "userName": "ada",
                "name": {"familyName": "Lovelace"},
                ENTERPRISE_SCHEMA: {"department": "R&D"},
            })
        );
    }

    #[test]
    fn user_name_is_required() {
        let err = parse_user(&json!({"displayName": "x"})).expect_err("missing userName");
        assert_eq!(err.scim_type, Some("invalidValue"));
    }

    #[test]
    fn unknown_attributes_and_wrong_types_are_refused() {
        let unknown = parse_user(&json!({"userName": "a", "shoeSize": 42})).expect_err("unknown");
        assert_eq!(unknown.scim_type, Some("invalidSyntax"));
        let wrong = parse_user(&json!({"userName": "a", "active": 3})).expect_err("type");
        assert_eq!(wrong.scim_type, Some("invalidValue"));
    }

    #[test]
    fn string_booleans_are_accepted() {
        let parsed = parse_user(&json!({"userName": "a", "active": "False"})).expect("valid");
        assert_eq!(parsed["active"], json!(false));
    }
}
