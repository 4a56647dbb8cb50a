//! What a full sync of an integration would do with one record and the
//! third party's user for it: the rule behind a Sync Overview (which only
//! reports it) and a Sync Now (which applies it).
//!
//! A user is *ours* when its `externalId` is the id of one of our records
//! of the integration's record type; every other user is `unmanaged` and
//! never touched. For a record and its user:
//!
//! | record | user | verdict |
//! |---|---|---|
//! | eligible | none | `create` (or `error` when it would not be a valid user) |
//! | eligible | present | `update` with each differing attribute, or `unchanged` |
//! | deleted or not eligible | active | `deactivate` |
//! | deleted or not eligible | inactive or none | nothing to do |
//!
//! An inactive user of an eligible record is updated with `active` from
//! false to true: the push reactivates it. Values are compared as JSON, an
//! absent attribute equal to null.

use lockstep_store::Record;
use serde::Serialize;
use serde_json::{Map, Value};

use super::integration::IntegrationRules;
use super::mapping::TargetPath;
use super::resource;

/// The third party's user, as a full sync compares it.
#[derive(Debug, Clone, Copy)]
pub struct ThirdPartyUser<'u> {
    pub active: bool,
    pub resource: &'u Map<String, Value>,
}

/// One attribute an update changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeDiff {
    /// The third-party attribute path, as mapped (or `active`).
    pub target: String,
    /// What the third party holds (null when nothing).
    pub from: Value,
    /// What the mapping says it should hold (null clears it).
    pub to: Value,
}

/// What a full sync would do for one record or user.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Create the user with these attributes (target → value).
    Create { attributes: Vec<(String, Value)> },
    /// Update these attributes of the user.
    Update { diffs: Vec<AttributeDiff> },
    /// Set the user inactive.
    Deactivate,
    /// The mapping cannot make a valid user of the record.
    Error { reason: String },
    /// The user holds what the mapping says.
    Unchanged,
    /// The user is not one of ours.
    Unmanaged,
    /// Nothing to do and nothing to count: an ineligible or deleted record
    /// with no active user.
    Ignored,
}

impl Verdict {
    /// The verdict's name in counts and the API.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Create { .. } => "create",
            Verdict::Update { .. } => "update",
            Verdict::Deactivate => "deactivate",
            Verdict::Error { .. } => "error",
            Verdict::Unchanged => "unchanged",
            Verdict::Unmanaged => "unmanaged",
            Verdict::Ignored => "ignored",
        }
    }
}

/// Decides what a full sync does for `record` (ours, deleted ones
/// included; `None` when the user's `externalId` names none) and `user`
/// (`None` when the third party has no user for the record).
pub fn verdict(rules: &IntegrationRules, record: Option<&Record>, user: Option<ThirdPartyUser<'_>>) -> Verdict {
    let Some(record) = record else {
        return if user.is_some() { Verdict::Unmanaged } else { Verdict::Ignored };
    };
    let wanted = record.deleted_at.is_none() && rules.eligibility.admits(&record.fields);
    match (wanted, user) {
        (false, Some(user)) if user.active => Verdict::Deactivate,
        (false, _) => Verdict::Ignored,
        (true, user) => {
            let values = rules.mapping.values(&record.fields);
            if let Err(reason) = valid_user(&values) {
                return Verdict::Error { reason };
            }
            match user {
                None => Verdict::Create {
                    attributes: values
                        .into_iter()
                        .filter(|(_, value)| !value.is_null())
                        .map(|(target, value)| (target.as_str().to_owned(), value))
                        .collect(),
                },
                Some(user) => {
                    let mut diffs: Vec<AttributeDiff> = values
                        .into_iter()
                        .filter_map(|(target, to)| {
                            let from = resource::get(user.resource, target).cloned().unwrap_or(Value::Null);
                            (from != to).then(|| AttributeDiff { target: target.as_str().to_owned(), from, to })
                        })
                        .collect();
                    if !user.active {
                        diffs.push(AttributeDiff {
                            target: "active".into(),
                            from: Value::Bool(false),
                            to: Value::Bool(true),
                        });
                    }
                    if diffs.is_empty() {
                        Verdict::Unchanged
                    } else {
                        Verdict::Update { diffs }
                    }
                }
            }
        }
    }
}

/// SCIM core attributes whose value is a string (RFC 7643 §4.1), checked so
/// that a record whose mapped value the third party would refuse shows as
/// an `error` in the preview rather than as a failed push later.
const STRING_ATTRIBUTES: &[&str] = &[
    "userName",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
];

/// Whether the mapped values make a valid SCIM user: a `userName` that is a
/// non-empty string (RFC 7643 §4.1.1: required), strings where the core
/// schema wants strings, and sub-attributes and filtered elements holding
/// plain values. The reason names the attribute.
pub fn valid_user(values: &[(&TargetPath, Value)]) -> Result<(), String> {
    let user_name = values.iter().find(|(target, _)| {
        target.schema.is_none() && target.sub_attribute.is_none() && target.attribute.eq_ignore_ascii_case("userName")
    });
    match user_name {
        None => return Err("the field mapping sends no `userName`, which every SCIM user needs".into()),
        Some((_, Value::String(name))) if !name.trim().is_empty() => {}
        Some((_, Value::Null)) => return Err("no value for `userName`, which every SCIM user needs".into()),
        Some((_, Value::String(_))) => return Err("`userName` is blank; every SCIM user needs one".into()),
        Some((_, other)) => return Err(format!("`userName` must be a string, not {}", kind(other))),
    }
    for (target, value) in values {
        if value.is_null() {
            continue;
        }
        let must_be_string = target.schema.is_none()
            && target.sub_attribute.is_none()
            && STRING_ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(&target.attribute));
        if must_be_string && !value.is_string() {
            return Err(format!("`{}` must be a string, not {}", target.as_str(), kind(value)));
        }
        if target.sub_attribute.is_some() && (value.is_object() || value.is_array()) {
            return Err(format!("`{}` must be a single value, not {}", target.as_str(), kind(value)));
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::IntegrationSettings;
    use serde_json::json;

    fn rules() -> IntegrationRules {
        let settings: IntegrationSettings = serde_json::from_value(json!({
            "connector": {"kind": "scim", "base_url": "http://127.0.0.1:9", "bearer_token": "t"},
            "field_mapping": {"email": "userName", "first_name": "name.givenName", "title": "title"},
            "eligibility": [{"field": "status", "op": "eq", "value": "active"}]
        }))
        .unwrap();
        settings.parse(1, "Directory", "employee").unwrap()
    }

    fn record(fields: Value) -> Record {
        let now = chrono::Utc::now();
        Record {
            id: 1,
            tenant_id: 1,
            record_type: "employee".into(),
            external_id: "e1".into(),
            fields,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    fn user(resource: Value) -> Map<String, Value> {
        resource.as_object().unwrap().clone()
    }

    fn verdict(rules: &IntegrationRules, record: Option<&Record>, user: Option<&Map<String, Value>>) -> Verdict {
        let user = user.map(|resource| ThirdPartyUser {
            active: resource.get("active").and_then(Value::as_bool).unwrap_or(true),
            resource,
        });
        super::verdict(rules, record, user)
    }

    #[test]
    fn an_eligible_record_without_a_user_is_created_with_its_mapped_values() {
        let r = record(json!({"email": "a@x", "first_name": "Ada", "status": "active"}));
        let Verdict::Create { mut attributes } = verdict(&rules(), Some(&r), None) else { panic!() };
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            attributes,
            vec![("name.givenName".to_owned(), json!("Ada")), ("userName".to_owned(), json!("a@x"))],
            "null values are not sent on create"
        );
    }

    #[test]
    fn an_update_lists_each_differing_attribute_with_from_and_to() {
        let r = record(json!({"email": "a@x", "first_name": "Ada", "title": "CTO", "status": "active"}));
        let u = user(json!({"userName": "a@x", "name": {"givenName": "Ad"}, "title": "CEO"}));
        let Verdict::Update { diffs } = verdict(&rules(), Some(&r), Some(&u)) else { panic!() };
        assert_eq!(
            diffs,
            vec![
                AttributeDiff { target: "name.givenName".into(), from: json!("Ad"), to: json!("Ada") },
                AttributeDiff { target: "title".into(), from: json!("CEO"), to: json!("CTO") },
            ]
        );
    }

    #[test]
    fn a_matching_user_is_unchanged_and_an_inactive_one_is_reactivated() {
        let r = record(json!({"email": "a@x", "first_name": "Ada", "status": "active"}));
        let u = user(json!({"userName": "a@x", "name": {"givenName": "Ada"}, "title": null}));
        assert_eq!(verdict(&rules(), Some(&r), Some(&u)), Verdict::Unchanged);
        let inactive = user(json!({"userName": "a@x", "name": {"givenName": "Ada"}, "active": false}));
        let Verdict::Update { diffs } = verdict(&rules(), Some(&r), Some(&inactive)) else { panic!() };
        assert_eq!(diffs, vec![AttributeDiff { target: "active".into(), from: json!(false), to: json!(true) }]);
    }

    #[test]
    fn deleted_or_ineligible_records_deactivate_active_users_only() {
        let mut gone = record(json!({"email": "a@x", "status": "active"}));
        gone.deleted_at = Some(chrono::Utc::now());
        assert_eq!(verdict(&rules(), Some(&gone), Some(&user(json!({"userName": "a@x"})))), Verdict::Deactivate);
        let left = record(json!({"email": "a@x", "status": "terminated"}));
        assert_eq!(verdict(&rules(), Some(&left), Some(&user(json!({"userName": "a@x"})))), Verdict::Deactivate);
        let inactive = user(json!({"userName": "a@x", "active": false}));
        assert_eq!(verdict(&rules(), Some(&left), Some(&inactive)), Verdict::Ignored);
        assert_eq!(verdict(&rules(), Some(&left), None), Verdict::Ignored);
    }

    #[test]
    fn users_that_are_not_ours_are_unmanaged() {
        assert_eq!(verdict(&rules(), None, Some(&user(json!({"userName": "x"})))), Verdict::Unmanaged);
    }

    #[test]
    fn a_record_that_cannot_be_a_valid_user_is_an_error_with_the_reason() {
        let no_name = record(json!({"first_name": "Ada", "status": "active"}));
        let Verdict::Error { reason } = verdict(&rules(), Some(&no_name), None) else { panic!() };
        assert!(reason.contains("userName"), "{reason}");
        let object_title = record(json!({"email": "a@x", "title": {"x": 1}, "status": "active"}));
        let Verdict::Error { reason } = verdict(&rules(), Some(&object_title), None) else { panic!() };
        assert!(reason.contains("`title` must be a string"), "{reason}");
    }
}
