//! Unit tests of SCIM filter parsing and evaluation ([`super`]).

use serde_json::json;

use super::*;

fn ada() -> Value {
    json!({
        "id": "AbC123",
        "externalId": "E-1",
        "userName": "Ada@Example.com",
        "active": true,
        "name": {"familyName": "Lovelace"},
        "emails": [
            {"value": "ada@work.example", "type": "work"},
            {"value": "ada@home.example", "type": "home"},
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        "meta": {"lastModified": "2024-05-01T10:00:00Z"},
    })
}

fn matches(filter: &str) -> bool {
    Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(&ada())
}

#[test]
fn eq_on_user_name_ignores_case_but_id_and_external_id_do_not() {
    assert!(matches(r#"userName eq "ada@example.com""#));
    assert!(matches(r#"USERNAME EQ "ADA@EXAMPLE.COM""#));
    assert!(matches(r#"id eq "AbC123""#));
    assert!(!matches(r#"id eq "abc123""#));
    assert!(matches(r#"externalId eq "E-1""#));
    assert!(!matches(r#"externalId eq "e-1""#));
}

#[test]
fn multi_valued_attributes_match_when_any_value_does() {
    assert!(matches(r#"emails.value eq "ada@home.example""#));
    assert!(matches(r#"emails eq "ada@work.example""#));
    assert!(!matches(r#"emails.value eq "bob@work.example""#));
    assert!(matches(r#"emails[type eq "work" and value co "@work"]"#));
    assert!(!matches(r#"emails[type eq "work" and value co "@home"]"#));
}

#[test]
fn logical_operators_follow_rfc_precedence() {
    assert!(matches(r#"userName eq "x" or name.familyName eq "lovelace" and active eq true"#));
    assert!(!matches(r#"(userName eq "x" or name.familyName eq "lovelace") and active eq false"#));
    assert!(matches(r#"not (userName eq "x")"#));
    assert!(!matches(r#"not (userName sw "ada")"#));
}

#[test]
fn string_operators_presence_and_ordering() {
    assert!(matches(r#"userName sw "ADA""#));
    assert!(matches(r#"userName ew ".com""#));
    assert!(matches(r#"userName co "example""#));
    assert!(matches("title ne \"boss\""));
    assert!(matches("name.familyName pr"));
    assert!(!matches("title pr"));
    assert!(matches(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#));
    assert!(!matches(r#"meta.lastModified lt "2024-01-01T00:00:00Z""#));
    assert!(matches(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#));
}

#[test]
fn escaped_quotes_in_strings_are_understood() {
    let filter = Filter::parse(r#"externalId eq "ext-\"ada\"""#).expect("parse");
    assert!(filter.matches(&json!({"externalId": "ext-\"ada\""})));
}

#[test]
fn bad_filters_are_errors_not_panics() {
    for bad in [
        "",
        "userName",
        "userName eq",
        "userName zz \"a\"",
        "userName eq \"a",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        "emails[type eq \"work\"",
        "userName eq bare",
        "and or not",
        "urn:nope:x eq 1",
    ] {
        assert!(Filter::parse(bad).is_err(), "{bad:?} should not parse");
    }
    let deep = format!("{}userName pr{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Filter::parse(&deep).is_err());
    let deep_not = format!("{}userName pr{}", "not (".repeat(10_000), ")".repeat(10_000));
    assert!(Filter::parse(&deep_not).is_err());
}
