//! SCIM attribute paths (RFC 7644 §3.10 and the PATCH `path` grammar of
//! §3.5.2): `title`, `name.familyName`, a URN-prefixed
//! `urn:…:enterprise:2.0:User:department`, a bare extension URN, and value
//! paths such as `emails[type eq "work"].value`.
//!
//! Paths are parsed once into [`AttrPath`] / [`PatchPath`] and read from a
//! rendered User with [`values_at`] and [`PatchPath::values`]; filters,
//! PATCH operations, projections and reject rules all go through here so they
//! agree on what a path means. Names match case-insensitively, as SCIM says.

use serde_json::{Map, Value};

use super::filter::Filter;
use super::schema::{canonical_urn, USER_SCHEMA};

/// `[urn:]attr[.sub]`. `urn` is `None` for core attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<&'static str>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `[urn:]attr[.sub]`. A bare schema URN is not an attribute path.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let text = text.trim();
        let (urn, rest) = split_urn(text)?;
        let (attr, sub) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(format!("invalid attribute path \"{text}\""));
        }
        Ok(AttrPath { urn, attr: attr.to_string(), sub: sub.map(str::to_string) })
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(urn) = self.urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{}", self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Splits a known schema URN prefix off `text`: `(Some(urn), rest)`, or
/// `(None, text)` when there is none. The core User URN maps to `None`.
fn split_urn(text: &str) -> Result<(Option<&'static str>, &str), String> {
    if !text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Ok((None, text));
    }
    for known in [super::schema::ENTERPRISE_SCHEMA, USER_SCHEMA] {
        let Some(prefix) = text.get(..known.len()) else {
            continue;
        };
        if prefix.eq_ignore_ascii_case(known) {
            if let Some(rest) = text[known.len()..].strip_prefix(':') {
                let urn = (known != USER_SCHEMA).then_some(known);
                return Ok((urn, rest));
            }
        }
    }
    Err(format!("unknown schema in attribute path \"{text}\""))
}

fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some('$') => name == "$ref",
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        _ => false,
    }
}

/// A PATCH target: a whole extension, or an attribute with an optional value
/// filter and sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    /// A bare extension URN: the whole extension object.
    Extension(&'static str),
    /// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
    Attr {
        /// The attribute (its `sub` is always `None`; see the field below).
        path: AttrPath,
        filter: Option<Filter>,
        sub: Option<String>,
    },
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath, String> {
        let text = text.trim();
        if let Some(urn) = canonical_urn(text) {
            if urn == USER_SCHEMA {
                return Err("the core schema URN is not an attribute path".into());
            }
            return Ok(PatchPath::Extension(urn));
        }
        let Some(open) = text.find('[') else {
            let mut path = AttrPath::parse(text)?;
            let sub = path.sub.take();
            return Ok(PatchPath::Attr { path, filter: None, sub });
        };
        let close = matching_bracket(text, open).ok_or_else(|| format!("unclosed '[' in \"{text}\""))?;
        let path = AttrPath::parse(&text[..open])?;
        if path.sub.is_some() {
            return Err(format!("a value filter applies to an attribute, not \"{path}\""));
        }
        let filter = Filter::parse(&text[open + 1..close])?;
        let sub = match &text[close + 1..] {
            "" => None,
            rest => match rest.strip_prefix('.') {
                Some(sub) if is_attr_name(sub) => Some(sub.to_string()),
                _ => return Err(format!("invalid text after ']' in \"{text}\"")),
            },
        };
        Ok(PatchPath::Attr { path, filter: Some(filter), sub })
    }

    /// The values this path designates in a rendered User, flattened.
    pub fn values<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        match self {
            PatchPath::Extension(urn) => get_ci(resource, urn).into_iter().collect(),
            PatchPath::Attr { path, filter, sub } => {
                let elements: Vec<&Value> = values_at(resource, path)
                    .into_iter()
                    .filter(|e| filter.as_ref().is_none_or(|f| f.matches_element(e, path)))
                    .collect();
                match sub {
                    None => elements,
                    Some(sub) => elements.into_iter().filter_map(|e| get_ci(e, sub)).flat_map(flatten).collect(),
                }
            }
        }
    }
}

/// The index of the `]` closing the `[` at `open`, skipping quoted strings.
fn matching_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// Case-insensitive member lookup on a JSON object.
pub fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let map = value.as_object()?;
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The stored key of `key` in `map` (its own spelling), if present.
pub fn key_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

fn flatten(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The values at `path` in a rendered User; multi-valued attributes are
/// flattened so each element is one value.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let container = match path.urn {
        Some(urn) => get_ci(resource, urn),
        None => Some(resource),
    };
    let Some(attr) = container.and_then(|c| get_ci(c, &path.attr)) else {
        return Vec::new();
    };
    match &path.sub {
        None => flatten(attr),
        Some(sub) => flatten(attr).into_iter().filter_map(|e| get_ci(e, sub)).flat_map(flatten).collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::ENTERPRISE_SCHEMA;

    #[test]
    fn attribute_paths_parse_with_and_without_urn() {
        let p = AttrPath::parse("name.familyName").expect("path");
        assert_eq!((p.urn, p.attr.as_str(), p.sub.as_deref()), (None, "name", Some("familyName")));
        let p =
            AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").expect("path");
        assert_eq!(p.urn, Some(ENTERPRISE_SCHEMA));
        assert_eq!(p.to_string(), format!("{ENTERPRISE_SCHEMA}:manager.value"));
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").expect("path");
        assert_eq!((p.urn, p.attr.as_str()), (None, "userName"));
        assert!(AttrPath::parse("urn:example:unknown:attr").is_err());
        assert!(AttrPath::parse("a.b.c").is_err());
        assert!(AttrPath::parse("").is_err());
    }

    #[test]
    fn patch_paths_parse_value_filters_and_extensions() {
        assert_eq!(PatchPath::parse(ENTERPRISE_SCHEMA), Ok(PatchPath::Extension(ENTERPRISE_SCHEMA)));
        let PatchPath::Attr { path, filter, sub } = PatchPath::parse(r#"emails[type eq "wo]rk"].value"#).expect("path")
        else {
            panic!("not an attribute path");
        };
        assert_eq!(path.attr, "emails");
        assert!(filter.is_some());
        assert_eq!(sub.as_deref(), Some("value"));
        assert!(PatchPath::parse("emails[type eq \"work\"").is_err());
        assert!(PatchPath::parse("emails[type eq \"work\"]x").is_err());
    }

    #[test]
    fn values_are_read_case_insensitively_and_flattened() {
        let user = json!({
            "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
            ENTERPRISE_SCHEMA: {"department": "R&D"},
        });
        let emails = AttrPath::parse("EMAILS.VALUE").expect("path");
        assert_eq!(values_at(&user, &emails), vec![&json!("a@x"), &json!("b@x")]);
        let work = PatchPath::parse(r#"emails[type eq "work"].value"#).expect("path");
        assert_eq!(work.values(&user), vec![&json!("a@x")]);
        let dept = PatchPath::parse(&format!("{ENTERPRISE_SCHEMA}:department")).expect("path");
        assert_eq!(dept.values(&user), vec![&json!("R&D")]);
    }
}
