//! Field mappings: which record fields an integration sends, and to which
//! third-party attribute. The mapped source fields are the integration's
//! *relevant fields*: only a change to one of them starts its grace period.
//!
//! Targets use SCIM attribute-path syntax (RFC 7644 §3.10), which is what
//! directories and HR tools speak:
//! `userName`, `name.givenName`, `emails[type eq "work"].value`, and
//! extension attributes prefixed by their schema URN, e.g.
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{FieldPath, FieldPathError};

/// The core SCIM User schema; a target with this prefix lands at the root.
pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Attributes Lockstep manages itself; a mapping may not write them. SCIM
/// attribute names are case-insensitive (RFC 7643 §2.1), so neither is
/// `ExternalID`.
const RESERVED_TARGETS: &[&str] = &["id", "externalId", "meta", "schemas", "active"];

/// Why a mapping was refused; each names the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(transparent)]
    Source(#[from] FieldPathError),
    #[error("invalid target attribute `{target}` for field `{source_field}`: {reason}")]
    Target { source_field: String, target: String, reason: String },
    #[error("target attribute `{target}` is mapped from both `{first}` and `{second}`")]
    DuplicateTarget { target: String, first: String, second: String },
    #[error("the field mapping is empty: map at least one field")]
    Empty,
}

/// A filter selecting one element of a multi-valued attribute:
/// `[type eq "work"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueFilter {
    pub attribute: String,
    pub value: Value,
}

/// A parsed third-party attribute path.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPath {
    /// The extension schema URN, when the attribute lives in one.
    pub schema: Option<String>,
    pub attribute: String,
    pub filter: Option<ValueFilter>,
    pub sub_attribute: Option<String>,
    raw: String,
}

impl TargetPath {
    /// Parses a SCIM attribute path. The grammar is strict (no padding, one
    /// space around `eq`) so that [`target_pattern`] can state it exactly.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("it is empty".into());
        }
        if raw.trim() != raw {
            return Err("it has spaces around it".into());
        }
        let (schema, rest) = split_schema(raw)?;
        let (head, sub_attribute) = match rest.find('[') {
            Some(open) => {
                let close = rest.rfind(']').filter(|&c| c > open).ok_or("an opening `[` has no closing `]`")?;
                let after = &rest[close + 1..];
                let sub = match after.strip_prefix('.') {
                    Some(sub) => Some(sub.to_owned()),
                    None if after.is_empty() => None,
                    None => return Err("expected `.subAttribute` after `]`".into()),
                };
                (&rest[..close + 1], sub)
            }
            None => match rest.split_once('.') {
                Some((attr, sub)) => (attr, Some(sub.to_owned())),
                None => (rest, None),
            },
        };
        let (attribute, filter) = match head.split_once('[') {
            Some((attr, filter)) => (attr, Some(parse_filter(&filter[..filter.len() - 1])?)),
            None => (head, None),
        };
        check_name(attribute)?;
        if let Some(sub) = &sub_attribute {
            check_name(sub)?;
        }
        if filter.is_some() && sub_attribute.is_none() {
            return Err("a filtered attribute needs a sub-attribute, e.g. `emails[type eq \"work\"].value`".into());
        }
        if schema.is_none() && RESERVED_TARGETS.iter().any(|r| r.eq_ignore_ascii_case(attribute)) {
            return Err(format!("`{attribute}` is managed by Lockstep"));
        }
        Ok(Self { schema, attribute: attribute.to_owned(), filter, sub_attribute, raw: raw.to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// Splits `urn:…:attribute` into the schema URN and the rest. The core User
/// schema (matched case-insensitively, as SCIM URNs are) is no schema: its
/// attributes live at the resource's root.
fn split_schema(raw: &str) -> Result<(Option<String>, &str), String> {
    if !raw.starts_with("urn:") {
        return Ok((None, raw));
    }
    // The attribute follows the last `:` that precedes any filter.
    let search_end = raw.find('[').unwrap_or(raw.len());
    let colon = raw[..search_end].rfind(':').ok_or("a schema URN must be followed by `:attribute`")?;
    let (schema, attribute) = (&raw[..colon], &raw[colon + 1..]);
    if attribute.is_empty() {
        return Err("a schema URN must be followed by `:attribute`".into());
    }
    let segments_ok = schema["urn:".len()..]
        .split(':')
        .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
    if !segments_ok {
        return Err(format!("`{schema}` is not a schema URN: `urn:` and `:`-separated letters, digits, `.`, `_`, `-`"));
    }
    if schema.eq_ignore_ascii_case(CORE_USER_SCHEMA) {
        Ok((None, attribute))
    } else {
        Ok((Some(schema.to_owned()), attribute))
    }
}

fn parse_filter(inner: &str) -> Result<ValueFilter, String> {
    let mut parts = inner.splitn(3, ' ');
    let (attribute, op, value) = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(op), Some(v)) if v.trim() == v => (a, op, v),
        _ => return Err("a filter must read `[attribute eq \"value\"]`".into()),
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(format!("only `eq` filters are supported, not `{op}`"));
    }
    check_name(attribute)?;
    let value: Value = serde_json::from_str(value)
        .map_err(|_| format!("filter value `{value}` must be a quoted string, a number or a boolean"))?;
    if value.is_object() || value.is_array() || value.is_null() {
        return Err("filter values must be strings, numbers or booleans".into());
    }
    Ok(ValueFilter { attribute: attribute.to_owned(), value })
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not an attribute name"))
    }
}

/// A regular expression (ECMA 262 and Python alike) that a target matches
/// when [`TargetPath::parse`] accepts it, for the OpenAPI document. Two
/// corners are left narrower than the parser: filter strings use only the
/// short escapes (`\"`, `\\`, `\n`…, not `\uXXXX`) and numbers are at most
/// 15 digits before and after the point with a two-digit exponent, so that
/// every string it matches parses.
pub fn target_pattern() -> String {
    const NAME: &str = r"[A-Za-z][A-Za-z0-9_$-]*";
    const STRING: &str = r#""(?:[^"\\\u0000-\u001F]|\\["\\/bfnrt])*""#;
    const NUMBER: &str = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?(?:[eE][+-]?[0-9]{1,2})?";
    let literal = format!("(?:{STRING}|{NUMBER}|true|false)");
    let filter = format!(r"\[{NAME} [eE][qQ] {literal}\]\.{NAME}");
    let path = format!(r"{NAME}(?:\.{NAME}|{filter})?");
    let urn = r"urn:[A-Za-z0-9._-]+(?::[A-Za-z0-9._-]+)*:";
    let core = format!("urn:{}:", case_insensitive(&CORE_USER_SCHEMA["urn:".len()..]));
    let reserved = RESERVED_TARGETS.iter().map(|r| case_insensitive(r)).collect::<Vec<_>>().join("|");
    format!(r"^(?!(?:{core})?(?:{reserved})(?![A-Za-z0-9_$-]))(?:{urn})?{path}$")
}

/// `abc` as `[aA][bB][cC]`; `.` escaped.
fn case_insensitive(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()),
            '.' => r"\.".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// One entry of a mapping: a record field and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedField {
    pub source: FieldPath,
    pub target: TargetPath,
}

/// A validated field mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldMapping {
    pub fields: Vec<MappedField>,
}

impl FieldMapping {
    /// Validates a `source field → target attribute` map.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, MappingError> {
        if raw.is_empty() {
            return Err(MappingError::Empty);
        }
        let mut fields = Vec::with_capacity(raw.len());
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (source, target) in raw {
            let source_path = FieldPath::parse(source)?;
            let target_path = TargetPath::parse(target).map_err(|reason| MappingError::Target {
                source_field: source.clone(),
                target: target.clone(),
                reason,
            })?;
            let key = target_path.as_str().to_ascii_lowercase();
            if let Some(first) = seen.insert(key, source.clone()) {
                return Err(MappingError::DuplicateTarget { target: target.clone(), first, second: source.clone() });
            }
            fields.push(MappedField { source: source_path, target: target_path });
        }
        Ok(Self { fields })
    }

    /// True when any mapped source differs between the two field objects.
    pub fn differs(&self, previous: &Value, next: &Value) -> bool {
        self.fields.iter().any(|f| f.source.get(previous) != f.source.get(next))
    }

    /// The values to send: each target with the record's value (null when
    /// the record has none, so the third party's value is cleared).
    pub fn values<'m>(&'m self, fields: &Value) -> Vec<(&'m TargetPath, Value)> {
        self.fields.iter().map(|f| (&f.target, f.source.get(fields).cloned().unwrap_or(Value::Null))).collect()
    }

    /// Whether this mapping sends the record field `path` (or part of it).
    pub fn syncs_field(&self, path: &str) -> bool {
        self.fields.iter().any(|f| f.source.overlaps(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(s: &str) -> TargetPath {
        TargetPath::parse(s).unwrap()
    }

    #[test]
    fn parses_simple_nested_filtered_and_extension_targets() {
        assert_eq!(target("userName").attribute, "userName");
        let given = target("name.givenName");
        assert_eq!((given.attribute.as_str(), given.sub_attribute.as_deref()), ("name", Some("givenName")));
        let work = target("emails[type eq \"work\"].value");
        assert_eq!(work.attribute, "emails");
        assert_eq!(work.filter.as_ref().unwrap().value, json!("work"));
        assert_eq!(work.sub_attribute.as_deref(), Some("value"));
        let dept = target("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
        assert_eq!(dept.schema.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(dept.attribute, "department");
        let core = target("urn:ietf:params:scim:schemas:core:2.0:User:title");
        assert_eq!((core.schema, core.attribute.as_str()), (None, "title"));
        let manager = target("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(manager.sub_attribute.as_deref(), Some("value"));
    }

    #[test]
    fn refuses_bad_targets_with_a_reason() {
        for bad in [
            "",
            " userName",
            "userName ",
            "emails[type  eq \"work\"].value",
            "emails[ type eq \"work\"].value",
            "urn:a b:title",
            "emails[type eq \"work\"]",
            "emails[type co \"w\"].value",
            "emails[type eq work].value",
            "1abc",
            "id",
            "active",
            "urn:x:",
            "emails[type eq \"work\"",
            "name.given name",
        ] {
            assert!(TargetPath::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn reserved_targets_are_recognised_in_any_case_and_under_the_core_schema() {
        for reserved in [
            "id",
            "ID",
            "externalId",
            "EXTERNALID",
            "externalid",
            "Active",
            "META.created",
            "Schemas",
            "urn:ietf:params:scim:schemas:core:2.0:User:externalId",
            "urn:IETF:params:scim:schemas:CORE:2.0:user:Active",
        ] {
            let error = TargetPath::parse(reserved).unwrap_err();
            assert!(error.contains("managed by Lockstep"), "{reserved}: {error}");
        }
        // Names that only start like a reserved one, and extension attributes, are free.
        for free in ["identity", "activeSince", "urn:ietf:params:scim:schemas:extension:acme:2.0:User:id"] {
            assert!(TargetPath::parse(free).is_ok(), "{free}");
        }
    }

    #[test]
    fn mapping_refuses_duplicates_and_empty() {
        let raw: BTreeMap<String, String> =
            [("a", "userName"), ("b", "username")].into_iter().map(|(a, b)| (a.into(), b.into())).collect();
        assert!(matches!(FieldMapping::parse(&raw), Err(MappingError::DuplicateTarget { .. })));
        assert_eq!(FieldMapping::parse(&BTreeMap::new()), Err(MappingError::Empty));
    }

    #[test]
    fn only_mapped_fields_make_a_difference() {
        let raw: BTreeMap<String, String> =
            [("email", "userName"), ("address.city", "addresses[type eq \"work\"].locality")]
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect();
        let mapping = FieldMapping::parse(&raw).unwrap();
        let a = json!({"email": "a@x", "salary": 1, "address": {"city": "Delft", "zip": "1"}});
        assert!(!mapping.differs(&a, &json!({"email": "a@x", "salary": 2, "address": {"city": "Delft", "zip": "2"}})));
        assert!(mapping.differs(&a, &json!({"email": "a@x", "address": {"city": "Leiden"}})));
        assert!(mapping.syncs_field("address.city"));
        assert!(!mapping.syncs_field("address.zip"));
    }
}
