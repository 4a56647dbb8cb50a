//! Eligibility: which records an integration syncs at all. A record that
//! stops being eligible (or is deleted) is deactivated in the third party.
//!
//! A filter is a list of conditions on record fields that must all hold;
//! an empty list makes every record eligible.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::fields::{FieldPath, FieldPathError};

/// How a condition compares the field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    /// The field equals `value`.
    Eq,
    /// The field does not equal `value` (an absent field does not equal anything).
    Ne,
    /// The field equals one of `value` (an array).
    In,
    /// The field equals none of `value` (an array).
    NotIn,
    /// The field is present and not null (`value` is not used).
    Exists,
    /// The field is absent or null (`value` is not used).
    NotExists,
}

/// One condition of an eligibility filter, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A record field path, e.g. `employment.status`.
    pub field: String,
    pub op: ConditionOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EligibilityError {
    #[error(transparent)]
    Field(#[from] FieldPathError),
    #[error("condition on `{field}`: {reason}")]
    Value { field: String, reason: &'static str },
}

/// A validated eligibility filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Eligibility {
    conditions: Vec<(FieldPath, ConditionOp, Value)>,
}

impl Eligibility {
    pub fn parse(conditions: &[Condition]) -> Result<Self, EligibilityError> {
        let mut parsed = Vec::with_capacity(conditions.len());
        for c in conditions {
            let path = FieldPath::parse(&c.field)?;
            let error = |reason| EligibilityError::Value { field: c.field.clone(), reason };
            let value = match (c.op, &c.value) {
                (ConditionOp::Exists | ConditionOp::NotExists, None) => Value::Null,
                (ConditionOp::Exists | ConditionOp::NotExists, Some(_)) => {
                    return Err(error("`exists` and `not_exists` take no value"))
                }
                (ConditionOp::In | ConditionOp::NotIn, Some(v @ Value::Array(_))) => v.clone(),
                (ConditionOp::In | ConditionOp::NotIn, _) => {
                    return Err(error("`in` and `not_in` need an array `value`"))
                }
                (ConditionOp::Eq | ConditionOp::Ne, Some(v)) => v.clone(),
                (ConditionOp::Eq | ConditionOp::Ne, None) => return Err(error("`eq` and `ne` need a `value`")),
            };
            parsed.push((path, c.op, value));
        }
        Ok(Self { conditions: parsed })
    }

    /// Whether a record with these fields is synced by the integration.
    pub fn admits(&self, fields: &Value) -> bool {
        self.conditions.iter().all(|(path, op, expected)| {
            let actual = path.get(fields).filter(|v| !v.is_null());
            let listed = || expected.as_array().is_some_and(|list| actual.is_some_and(|a| list.contains(a)));
            match op {
                ConditionOp::Eq => actual == Some(expected),
                ConditionOp::Ne => actual.is_some_and(|a| a != expected),
                ConditionOp::In => listed(),
                ConditionOp::NotIn => !listed(),
                ConditionOp::Exists => actual.is_some(),
                ConditionOp::NotExists => actual.is_none(),
            }
        })
    }

    /// The fields the filter reads: a change to one can flip eligibility.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.conditions.iter().map(|(path, _, _)| path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: Value) -> Eligibility {
        let conditions: Vec<Condition> = serde_json::from_value(v).unwrap();
        Eligibility::parse(&conditions).unwrap()
    }

    #[test]
    fn all_conditions_must_hold() {
        let f = filter(json!([
            {"field": "status", "op": "eq", "value": "active"},
            {"field": "country", "op": "in", "value": ["NL", "DE"]},
            {"field": "email", "op": "exists"}
        ]));
        assert!(f.admits(&json!({"status": "active", "country": "NL", "email": "a@x"})));
        assert!(!f.admits(&json!({"status": "active", "country": "FR", "email": "a@x"})));
        assert!(!f.admits(&json!({"status": "active", "country": "NL", "email": null})));
    }

    #[test]
    fn empty_filter_admits_everything() {
        assert!(Eligibility::default().admits(&json!({})));
    }

    #[test]
    fn malformed_conditions_are_refused() {
        let bad: Vec<Condition> = serde_json::from_value(json!([{"field": "a", "op": "in", "value": "x"}])).unwrap();
        assert!(Eligibility::parse(&bad).is_err());
        let bad: Vec<Condition> = serde_json::from_value(json!([{"field": "a", "op": "eq"}])).unwrap();
        assert!(Eligibility::parse(&bad).is_err());
    }
}
