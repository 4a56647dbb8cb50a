//! Rules for the text a client sends, checked before anything reaches a
//! store, so that both stores answer alike.
//!
//! The stores differ in what text they keep: PostgreSQL refuses U+0000 in
//! `text` and `jsonb` (it would answer a 500), SQLite keeps it. The API
//! does not let that difference show: it refuses what one store could not
//! keep with a 422 naming the field, on both.
//!
//! - Names, emails, record ids, record types and the keys of a record's
//!   fields are identifiers a person reads: no control characters at all
//!   (U+0000–U+001F, U+007F–U+009F).
//! - The string *values* of a record's fields are data: a newline or a tab
//!   is legitimate in an address, so only U+0000 is refused.
//!
//! Each rule has a pattern beside it for the OpenAPI document, written so
//! that a string matches the pattern exactly when the rule accepts it.

use serde_json::{Map, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::problem::FieldError;

/// No control characters (the Unicode `Cc` category, what [`char::is_control`] tests).
pub const NO_CONTROLS_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// A text value of a record's field: anything but U+0000.
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";
/// A display name: no control characters, not only whitespace.
pub const NAME_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// An email address as [`check_email`] reads it.
pub const EMAIL_PATTERN: &str = r"^[^\s@\u0000-\u001F\u007F-\u009F]+@[^\s@\u0000-\u001F\u007F-\u009F]+$";
/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest email address, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// A string schema: its length bounds (in characters) and its pattern.
pub fn text_schema(min: usize, max: Option<usize>, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(min)).max_length(max).pattern(Some(pattern))
}

/// The schema of a display name ([`check_name`]).
pub fn name_schema() -> Object {
    text_schema(1, Some(MAX_NAME_CHARS), NAME_PATTERN)
        .description(Some("1–200 characters, not only spaces, no control characters."))
        .build()
}

/// The schema of an email address ([`check_email`]).
pub fn email_schema() -> Object {
    text_schema(3, Some(MAX_EMAIL_CHARS), EMAIL_PATTERN)
        .description(Some("One `@` with something on both sides; no whitespace or control characters."))
        .build()
}

/// Whether `text` holds a control character.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A display name: 1–200 characters, not only whitespace, no control characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if !(1..=MAX_NAME_CHARS).contains(&name.chars().count()) || name.chars().all(char::is_whitespace) {
        Err("must be 1–200 characters, not only spaces")
    } else if has_control(name) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

/// A deliberately plain email check: one `@` with something on both sides,
/// no whitespace or control characters, at most 254 characters.
/// Deliverability is the mail server's call.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    let part_ok = |part: &str| !part.is_empty() && !part.contains(|c: char| c.is_whitespace() || c.is_control());
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && matches!(email.split_once('@'), Some((local, domain)) if part_ok(local) && part_ok(domain) && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err("must be an email address: one `@`, no spaces or control characters, at most 254 characters")
    }
}

/// Checks the fields of a record (or a merge patch of them): keys without
/// control characters and string values without U+0000, at any depth.
/// `prefix` places the paths in a larger body (`records[3].fields.`).
pub fn check_fields(fields: &Map<String, Value>, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut path = prefix.to_owned();
    check_object(fields, &mut path, prefix.is_empty(), &mut errors);
    errors
}

/// Checks one value by the rules of a record's fields, at `path`: what an
/// eligibility condition compares with a field.
pub fn check_field_value(value: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_value(value, &mut path.to_owned(), &mut errors);
    errors
}

fn check_object(object: &Map<String, Value>, path: &mut String, at_root: bool, errors: &mut Vec<FieldError>) {
    for (key, value) in object {
        let len = path.len();
        if !at_root && !path.ends_with('.') {
            path.push('.');
        }
        path.push_str(&printable(key));
        if has_control(key) {
            errors.push(FieldError::new(path.clone(), "a field name must not contain control characters"));
        }
        check_value(value, path, errors);
        path.truncate(len);
    }
}

fn check_value(value: &Value, path: &mut String, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(text) if text.contains('\0') => {
            errors.push(FieldError::new(path.clone(), "a text value must not contain U+0000 (NUL)"))
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                check_value(item, path, errors);
                path.truncate(len);
            }
        }
        Value::Object(object) => check_object(object, path, false, errors),
        _ => {}
    }
}

/// Every string (key or value) in `value` that holds U+0000, by path: what
/// PostgreSQL's `jsonb` cannot keep.
pub fn nul_paths(value: &Value, path: &mut String, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains('\0') => out.push(path.clone()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                nul_paths(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&printable(key));
                if key.contains('\0') {
                    out.push(path.clone());
                }
                nul_paths(item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// A key as it can be shown in a field path: control characters escaped.
fn printable(key: &str) -> String {
    if has_control(key) {
        key.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields_of(value: Value) -> Vec<String> {
        let Value::Object(map) = value else { panic!("not an object") };
        check_fields(&map, "").into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn names_are_1_to_200_characters_without_controls() {
        assert!(check_name("Ada").is_ok());
        assert!(check_name(" Ada Lovelace ").is_ok());
        assert!(check_name("   ").is_err());
        assert!(check_name("").is_err());
        assert!(check_name(&"é".repeat(200)).is_ok());
        assert!(check_name(&"é".repeat(201)).is_err());
        for bad in ["a\0b", "a\nb", "tab\t", "\u{7f}", "\u{85}x"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_need_one_at_and_no_spaces_or_controls() {
        assert!(check_email("ada@example.com").is_ok());
        assert!(check_email("ädä@例え.jp").is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a@b@c",
            "ada @example.com",
            " ada@example.com",
            "ada@exa\0mple.com",
            "ada@example.com\n",
            &format!("{}@x.io", "a".repeat(250)),
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn field_names_refuse_controls_and_values_refuse_nul_at_any_depth() {
        assert!(fields_of(json!({"a": "line\nbreak", "b": {"c": ["tab\t"]}})).is_empty());
        assert_eq!(fields_of(json!({"na\u{0}me": 1})), ["na\\u{0}me"]);
        assert_eq!(fields_of(json!({"a": {"b\n": 1}})), ["a.b\\n"]);
        assert_eq!(fields_of(json!({"a": "x\u{0}y"})), ["a"]);
        assert_eq!(fields_of(json!({"a": {"b": [1, "\u{0}"]}})), ["a.b[1]"]);
        let Value::Object(map) = json!({"a": "\u{0}"}) else { unreachable!() };
        assert_eq!(check_fields(&map, "records[2].fields.")[0].field, "records[2].fields.a");
    }

    #[test]
    fn nul_paths_find_keys_and_values() {
        let mut out = Vec::new();
        nul_paths(&json!({"a": {"b": "\u{0}"}, "c\u{0}": 1, "d": ["x", "\u{0}"]}), &mut String::new(), &mut out);
        assert_eq!(out, ["a.b", "c\\u{0}", "d[1]"]);
    }
}
