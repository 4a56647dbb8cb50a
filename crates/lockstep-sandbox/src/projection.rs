//! Partial representations (RFC 7644 §3.4.2.5 / §3.9): the `attributes` and
//! `excludedAttributes` parameters, applied to a rendered User. `id` and
//! `schemas` are `returned: always` and survive either; `schemas` is recomputed
//! so it lists the extension only when the extension is still there.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::{get_ci, key_ci, PatchPath};
use super::schema::{ENTERPRISE_SCHEMA, USER_SCHEMA};

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    attributes: Vec<PatchPath>,
    excluded: Vec<PatchPath>,
}

impl Projection {
    /// From the comma-separated parameter values (either may be absent).
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        Ok(Projection { attributes: parse_list(attributes)?, excluded: parse_list(excluded)? })
    }

    /// From the lists of a `SearchRequest` body.
    pub fn from_lists(attributes: &[String], excluded: &[String]) -> Result<Self, ScimError> {
        Ok(Projection {
            attributes: attributes.iter().map(|a| parse_one(a)).collect::<Result<_, _>>()?,
            excluded: excluded.iter().map(|a| parse_one(a)).collect::<Result<_, _>>()?,
        })
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(full) = resource else {
            return resource;
        };
        let id = full.get("id").cloned();
        // Without `attributes` everything is returned: the resource itself
        // is the start, not a copy of it (a page of a listing is a thousand).
        let mut out = if self.attributes.is_empty() {
            full
        } else {
            let mut out = Map::new();
            for path in &self.attributes {
                include(&full, &mut out, path);
            }
            out
        };
        for path in &self.excluded {
            exclude(&mut out, path);
        }
        if let Some(id) = id {
            out.insert("id".into(), id);
        }
        let mut schemas = vec![Value::from(USER_SCHEMA)];
        if out.contains_key(ENTERPRISE_SCHEMA) {
            schemas.push(Value::from(ENTERPRISE_SCHEMA));
        }
        out.insert("schemas".into(), Value::Array(schemas));
        Value::Object(out)
    }
}

fn parse_list(list: Option<&str>) -> Result<Vec<PatchPath>, ScimError> {
    list.into_iter().flat_map(|l| l.split(',')).map(str::trim).filter(|a| !a.is_empty()).map(parse_one).collect()
}

fn parse_one(text: &str) -> Result<PatchPath, ScimError> {
    match PatchPath::parse(text) {
        Ok(PatchPath::Attr { filter: Some(_), .. }) => {
            Err(ScimError::invalid_value(format!("\"{text}\": attributes take no filter")))
        }
        Ok(path) => Ok(path),
        Err(e) => Err(ScimError::invalid_value(e)),
    }
}

/// `(container key, attribute, sub)` of a path; the container key is the
/// extension URN, or `None` for the top level.
fn parts(path: &PatchPath) -> (Option<&'static str>, Option<&str>, Option<&str>) {
    match path {
        PatchPath::Extension(urn) => (Some(urn), None, None),
        PatchPath::Attr { path: attr, sub, .. } => (attr.urn, Some(attr.attr.as_str()), sub.as_deref()),
    }
}

fn include(full: &Map<String, Value>, out: &mut Map<String, Value>, path: &PatchPath) {
    let (urn, attr, sub) = parts(path);
    let source = match urn {
        Some(urn) => match full.get(urn) {
            Some(Value::Object(ext)) => ext,
            _ => return,
        },
        None => full,
    };
    let target = match urn {
        Some(urn) => match out.entry(urn.to_string()).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(map) => map,
            _ => return,
        },
        None => out,
    };
    let Some(attr) = attr else {
        target.extend(source.clone());
        return;
    };
    let Some(key) = key_ci(source, attr) else {
        return;
    };
    let value = &source[&key];
    let Some(sub) = sub else {
        target.insert(key, value.clone());
        return;
    };
    let pick = |element: &Value| -> Option<Value> {
        let v = get_ci(element, sub)?;
        let mut map = Map::new();
        map.insert(sub.to_string(), v.clone());
        Some(Value::Object(map))
    };
    match value {
        Value::Array(items) => {
            let picked: Vec<Value> = items.iter().filter_map(pick).collect();
            target.insert(key, Value::Array(picked));
        }
        other => {
            if let Some(Value::Object(picked)) = pick(other) {
                match target.entry(key).or_insert_with(|| Value::Object(Map::new())) {
                    Value::Object(existing) => existing.extend(picked),
                    slot => *slot = Value::Object(picked),
                }
            }
        }
    }
}

fn exclude(out: &mut Map<String, Value>, path: &PatchPath) {
    let (urn, attr, sub) = parts(path);
    let container = match (urn, attr) {
        (Some(urn), None) => {
            out.remove(urn);
            return;
        }
        (Some(urn), Some(_)) => match out.get_mut(urn) {
            Some(Value::Object(ext)) => ext,
            _ => return,
        },
        (None, _) => out,
    };
    let Some(key) = attr.and_then(|a| key_ci(container, a)) else {
        return;
    };
    if key == "id" || key == "schemas" {
        return;
    }
    let Some(sub) = sub else {
        container.remove(&key);
        return;
    };
    match container.get_mut(&key) {
        Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).for_each(|e| {
            if let Some(k) = key_ci(e, sub) {
                e.remove(&k);
            }
        }),
        Some(Value::Object(fields)) => {
            if let Some(k) = key_ci(fields, sub) {
                fields.remove(&k);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "id": "1",
            "userName": "ada",
            "externalId": "e1",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_SCHEMA: {"department": "R&D", "division": "N"},
            "meta": {"resourceType": "User"},
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        Projection::parse(attributes, excluded).expect("projection").apply(user())
    }

    #[test]
    fn attributes_keep_only_the_named_ones_plus_id_and_schemas() {
        let out = project(Some("externalId,NAME.familyName,emails.value"), None);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_SCHEMA],
                "id": "1",
                "externalId": "e1",
                "name": {"familyName": "Lovelace"},
                "emails": [{"value": "a@x"}],
            })
        );
        let out = project(Some(&format!("{ENTERPRISE_SCHEMA}:department")), None);
        assert_eq!(out[ENTERPRISE_SCHEMA], json!({"department": "R&D"}));
        assert_eq!(out["schemas"], json!([USER_SCHEMA, ENTERPRISE_SCHEMA]));
    }

    #[test]
    fn excluded_attributes_are_dropped_but_id_stays() {
        let out = project(None, Some(&format!("name,id,emails.type,{ENTERPRISE_SCHEMA}")));
        assert!(out.get("name").is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(out["emails"], json!([{"value": "a@x"}]));
        assert!(out.get(ENTERPRISE_SCHEMA).is_none());
        assert_eq!(out["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn bad_attribute_lists_are_invalid_values() {
        assert!(Projection::parse(Some("emails[type eq \"work\"]"), None).is_err());
        assert!(Projection::parse(Some("not a path"), None).is_err());
    }
}
