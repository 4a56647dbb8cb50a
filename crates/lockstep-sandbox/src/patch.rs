//! SCIM PATCH (RFC 7644 §3.5.2): parsing a `PatchOp` body and applying its
//! `add` / `replace` / `remove` operations to a User's stored attributes.
//!
//! Paths may be absent (the value is then an object of attribute → value, whose
//! keys may themselves be paths such as `name.familyName`, as Entra ID sends),
//! plain (`title`), dotted (`name.givenName`), URN-prefixed, a bare extension
//! URN, or value paths (`emails[type eq "work"].value`).
//!
//! Two lenient choices, both matching what the big provisioning clients expect:
//! `op` names are case-insensitive, and an `add`/`replace` through a value
//! filter of `eq` tests that matches nothing creates the element (so
//! `replace emails[type eq "work"].value` gives a user their first work email
//! instead of failing with `noTarget`). The caller applies operations to a copy
//! and keeps it only when all succeed, so a PATCH is atomic.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{Filter, Op};
use super::path::{key_ci, AttrPath, PatchPath};
use super::schema::{find, find_sub, AttrDef};
use super::validate::{self, coerce, coerce_single};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Remove,
    Replace,
}

/// One parsed operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses a `PatchOp` body into its operations.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let operations = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("a PatchOp needs an \"Operations\" array"))?;
    operations.iter().map(parse_operation).collect()
}

fn parse_operation(op: &Value) -> Result<Operation, ScimError> {
    let field =
        |name: &str| op.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))).map(|(_, v)| v);
    let kind = match field("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => Kind::Add,
        Some("remove") => Kind::Remove,
        Some("replace") => Kind::Replace,
        _ => return Err(ScimError::invalid_syntax("each operation needs \"op\": add, remove or replace")),
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p).map_err(ScimError::invalid_path)?),
        Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
    };
    let value = field("value").filter(|v| !v.is_null()).cloned();
    Ok(Operation { kind, path, value })
}

/// Applies `operations` in order to a User's stored attributes, then checks
/// the result is still a valid User.
pub fn apply(attributes: &mut Map<String, Value>, operations: &[Operation]) -> Result<(), ScimError> {
    for op in operations {
        match &op.path {
            Some(path) => apply_at(attributes, op.kind, path, op.value.as_ref())?,
            None if op.kind == Kind::Remove => {
                return Err(ScimError::bad_request("noTarget", "a remove operation needs a \"path\""));
            }
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value("an operation without \"path\" needs an object \"value\""));
                };
                for (key, value) in values {
                    // Read-only attributes in a full representation are ignored (§3.5.1).
                    if ["schemas", "id", "meta", "groups"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
                        continue;
                    }
                    let path = PatchPath::parse(key).map_err(ScimError::invalid_path)?;
                    apply_at(attributes, op.kind, &path, Some(value))?;
                }
            }
        }
    }
    *attributes = validate::parse_user(&Value::Object(std::mem::take(attributes)))?;
    Ok(())
}

fn apply_at(
    attributes: &mut Map<String, Value>,
    kind: Kind,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let (path, filter, sub) = match path {
        PatchPath::Extension(urn) => return apply_extension(attributes, kind, urn, value),
        PatchPath::Attr { path, filter, sub } => (path, filter.as_ref(), sub.as_deref()),
    };
    let def =
        find(path.urn, &path.attr).ok_or_else(|| ScimError::invalid_path(format!("unknown attribute \"{path}\"")))?;
    if def.mutability == "readOnly" {
        return Err(ScimError::bad_request("mutability", format!("attribute \"{}\" is read-only", def.name)));
    }
    let sub_def =
        match sub {
            Some(sub) => Some(find_sub(def, sub).ok_or_else(|| {
                ScimError::invalid_path(format!("unknown sub-attribute \"{sub}\" of \"{}\"", def.name))
            })?),
            None => None,
        };
    let container = match path.urn {
        None => attributes,
        Some(urn) => {
            if kind == Kind::Remove && !attributes.contains_key(urn) {
                return Ok(());
            }
            let entry = attributes.entry(urn.to_string()).or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(map) => map,
                _ => return Err(ScimError::invalid_value(format!("\"{urn}\" is not an object"))),
            }
        }
    };
    // Stored keys are canonical already; tolerate any other spelling anyway.
    if let Some(existing) = key_ci(container, def.name).filter(|k| k != def.name) {
        if let Some(v) = container.remove(&existing) {
            container.insert(def.name.to_string(), v);
        }
    }
    let value = match (kind, value) {
        (Kind::Remove, _) => None,
        (_, Some(v)) => Some(v),
        (Kind::Replace, None) => None,
        (Kind::Add, None) => return Err(ScimError::invalid_value("an add operation needs a \"value\"")),
    };
    match (filter, sub_def) {
        (None, None) => set_whole(container, def, kind, value),
        (None, Some(sub_def)) => set_sub(container, def, sub_def, value, |_| true),
        (Some(filter), _) => set_filtered(container, def, path, filter, sub_def, kind, value),
    }
}

/// `path` names a whole extension: its value is an object of its attributes.
fn apply_extension(
    attributes: &mut Map<String, Value>,
    kind: Kind,
    urn: &'static str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if kind == Kind::Remove {
        attributes.remove(urn);
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::invalid_value(format!("the value for \"{urn}\" must be an object")));
    };
    // An extension object may carry its own `schemas` (scim2-models sends it).
    for (key, v) in values.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
        let mut path = AttrPath::parse(key).map_err(ScimError::invalid_path)?;
        path.urn = Some(urn);
        let sub = path.sub.take();
        apply_at(attributes, kind, &PatchPath::Attr { path, filter: None, sub }, Some(v))?;
    }
    Ok(())
}

/// add / replace / remove of a whole attribute (no filter, no sub-attribute).
fn set_whole(
    container: &mut Map<String, Value>,
    def: &AttrDef,
    kind: Kind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(value) = value else {
        container.remove(def.name);
        return Ok(());
    };
    let Some(new) = coerce(def, value)? else {
        container.remove(def.name);
        return Ok(());
    };
    match (&new, container.get_mut(def.name)) {
        // add appends values not already there; a new primary demotes the old one.
        (Value::Array(added), Some(Value::Array(existing))) if kind == Kind::Add => {
            if added.iter().any(is_primary) {
                existing.iter_mut().for_each(clear_primary);
            }
            for item in added {
                if !existing.contains(item) {
                    existing.push(item.clone());
                }
            }
        }
        // A complex value merges: sub-attributes not given are left unchanged.
        (Value::Object(given), Some(Value::Object(existing))) => {
            existing.extend(given.clone());
        }
        _ => {
            container.insert(def.name.to_string(), new);
        }
    }
    Ok(())
}

/// Sets (or removes, when `value` is `None`) sub-attribute `sub` of `def` on
/// the elements `select` picks (all of them for a single complex attribute).
fn set_sub(
    container: &mut Map<String, Value>,
    def: &AttrDef,
    sub: &AttrDef,
    value: Option<&Value>,
    select: impl Fn(&Value) -> bool,
) -> Result<(), ScimError> {
    let new = match value {
        Some(v) => coerce(sub, v)?,
        None => None,
    };
    if !container.contains_key(def.name) {
        if new.is_none() {
            return Ok(());
        }
        let empty = Value::Object(Map::new());
        let fresh = if def.multi { Value::Array(vec![empty]) } else { empty };
        container.insert(def.name.to_string(), fresh);
    }
    let Some(entry) = container.get_mut(def.name) else {
        return Ok(());
    };
    let elements: Vec<&mut Value> = match entry {
        Value::Array(items) => items.iter_mut().filter(|e| select(e)).collect(),
        other => vec![other],
    };
    for element in elements {
        if let Value::Object(fields) = element {
            match &new {
                Some(v) => fields.insert(sub.name.to_string(), v.clone()),
                None => fields.remove(sub.name),
            };
        }
    }
    Ok(())
}

/// Operations through a value filter, `attr[filter]` or `attr[filter].sub`.
fn set_filtered(
    container: &mut Map<String, Value>,
    def: &AttrDef,
    path: &AttrPath,
    filter: &Filter,
    sub: Option<&AttrDef>,
    kind: Kind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !def.multi {
        return Err(ScimError::invalid_path(format!("\"{}\" is not multi-valued", def.name)));
    }
    let matched = match container.get(def.name) {
        Some(Value::Array(items)) => items.iter().any(|e| filter.matches_element(e, path)),
        _ => false,
    };
    if !matched {
        if kind == Kind::Remove {
            return Ok(());
        }
        let Some(seed) = element_from_filter(filter) else {
            return Err(ScimError::bad_request("noTarget", format!("no value of \"{}\" matches the filter", def.name)));
        };
        let seed = coerce_single(def, &Value::Object(seed))?.unwrap_or_else(|| Value::Object(Map::new()));
        match container.entry(def.name.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(items) => items.push(seed),
            other => *other = Value::Array(vec![seed]),
        }
    }
    if let Some(sub) = sub {
        return set_sub(container, def, sub, value, |e| filter.matches_element(e, path));
    }
    let new = match value {
        Some(v) => coerce_single(def, v)?,
        None => None,
    };
    let Some(Value::Array(items)) = container.get_mut(def.name) else {
        return Ok(());
    };
    match (kind, new) {
        (Kind::Remove, _) | (_, None) => items.retain(|e| !filter.matches_element(e, path)),
        (_, Some(new)) => {
            if is_primary(&new) {
                items.iter_mut().for_each(clear_primary);
            }
            for item in items.iter_mut().filter(|e| filter.matches_element(e, path)) {
                match (kind, &mut *item, &new) {
                    (Kind::Add, Value::Object(fields), Value::Object(given)) => fields.extend(given.clone()),
                    _ => *item = new.clone(),
                }
            }
        }
    }
    Ok(())
}

/// The element a filter of `eq` tests joined by `and` describes, if it is one.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare(path, Op::Eq, value) if path.urn.is_none() && path.sub.is_none() => {
            let mut map = Map::new();
            map.insert(path.attr.clone(), value.clone());
            Some(map)
        }
        Filter::And(a, b) => {
            let mut map = element_from_filter(a)?;
            map.extend(element_from_filter(b)?);
            Some(map)
        }
        _ => None,
    }
}

fn is_primary(value: &Value) -> bool {
    value.get("primary") == Some(&Value::Bool(true))
}

fn clear_primary(value: &mut Value) {
    if let Some(Value::Bool(primary)) = value.get_mut("primary") {
        *primary = false;
    }
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
