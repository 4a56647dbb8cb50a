//! Record field paths (`address.city`) and the field-level diff between two
//! versions of a record.

use serde_json::{Map, Value};

/// Why a field path is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path `{path}`: {reason}")]
pub struct FieldPathError {
    pub path: String,
    pub reason: &'static str,
}

/// What [`FieldPath::parse`] accepts, as a regular expression for the OpenAPI document.
pub const FIELD_PATH_PATTERN: &str = r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$";

/// A dotted path into a record's fields, e.g. `address.city`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    raw: String,
}

impl FieldPath {
    /// Parses `a.b.c`: segments of letters, digits, `_` and `-`.
    pub fn parse(raw: &str) -> Result<Self, FieldPathError> {
        let error = |reason| FieldPathError { path: raw.to_owned(), reason };
        if raw.is_empty() {
            return Err(error("it is empty"));
        }
        for segment in raw.split('.') {
            if segment.is_empty() {
                return Err(error("it has an empty segment"));
            }
            if !segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(error("segments may hold only letters, digits, `_` and `-`"));
            }
        }
        Ok(Self { raw: raw.to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value at this path, if every step exists.
    pub fn get<'v>(&self, fields: &'v Value) -> Option<&'v Value> {
        self.raw.split('.').try_fold(fields, |value, segment| value.get(segment))
    }

    /// True when a change at `changed` (a leaf path of a diff) touches this
    /// path: one is a prefix of the other.
    pub fn overlaps(&self, changed: &str) -> bool {
        let (a, b) = (self.raw.as_str(), changed);
        let prefix =
            |short: &str, long: &str| long.starts_with(short) && long.as_bytes().get(short.len()) == Some(&b'.');
        a == b || prefix(a, b) || prefix(b, a)
    }
}

/// The leaf paths whose values differ between two field objects. Objects
/// are walked; arrays and scalars are compared whole. A key present on one
/// side only is a change (null and absent are treated alike).
pub fn changed_paths(previous: &Value, next: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(previous, next, &mut String::new(), &mut out);
    out
}

fn diff_into(previous: &Value, next: &Value, prefix: &mut String, out: &mut Vec<String>) {
    let empty = Value::Object(Map::new());
    // A missing object is walked as an empty one, so a new nested object
    // reports its leaves rather than its parent.
    let (previous, next) = match (previous, next) {
        (Value::Null, Value::Object(_)) => (&empty, next),
        (Value::Object(_), Value::Null) => (previous, &empty),
        pair => pair,
    };
    match (previous, next) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(key);
                let left = a.get(key).unwrap_or(&Value::Null);
                let right = b.get(key).unwrap_or(&Value::Null);
                diff_into(left, right, prefix, out);
                prefix.truncate(len);
            }
        }
        _ if previous != next => out.push(prefix.clone()),
        _ => {}
    }
}

/// Every leaf path of a field object (the diff of a new record).
pub fn all_paths(fields: &Value) -> Vec<String> {
    changed_paths(&Value::Object(Map::new()), fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_reports_changed_nested_leaves_only() {
        let before = json!({"first_name": "Ada", "address": {"city": "Delft", "zip": "2611"}, "tags": [1]});
        let after =
            json!({"first_name": "Ada", "address": {"city": "Leiden", "zip": "2611"}, "tags": [1, 2], "title": "CTO"});
        assert_eq!(changed_paths(&before, &after), vec!["address.city", "tags", "title"]);
    }

    #[test]
    fn null_and_absent_are_the_same() {
        assert!(changed_paths(&json!({"a": null}), &json!({})).is_empty());
    }

    #[test]
    fn object_replaced_by_scalar_is_one_change() {
        assert_eq!(changed_paths(&json!({"a": {"b": 1}}), &json!({"a": 3})), vec!["a"]);
    }

    #[test]
    fn path_overlap_works_both_ways() {
        let p = FieldPath::parse("address").unwrap();
        assert!(p.overlaps("address.city"));
        assert!(!p.overlaps("addressee"));
        let q = FieldPath::parse("address.city").unwrap();
        assert!(q.overlaps("address"));
        assert!(!q.overlaps("address.zip"));
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a b").is_err());
        assert_eq!(FieldPath::parse("a.b").unwrap().get(&json!({"a": {"b": 2}})), Some(&json!(2)));
    }
}
