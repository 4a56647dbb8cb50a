//! The bodies of `POST /v1/integrations` and `PATCH /v1/integrations/{id}`:
//! the types the handlers deserialise, and so the types the OpenAPI
//! document describes.
//!
//! A create is `{name, record_type, connector, field_mapping, …}`: the
//! settings sit beside the name rather than under a key of their own. The
//! body is one flat struct ([`CreateIntegration`]) instead of the name
//! beside a `#[serde(flatten)]`ed [`IntegrationSettings`], because serde
//! cannot refuse unknown keys through `flatten`, and a schema built from
//! one would be an `allOf` that no body satisfies.
//!
//! A patch is a JSON Merge Patch over the stored input. [`IntegrationPatch`]
//! reads it key by key, telling a key that is absent (keep it) from one that
//! is `null` (remove it: a key with a default goes back to its default), so
//! a patch of the wrong shape is refused with its path before it is merged.
//!
//! What JSON Schema cannot say is stated in the descriptions and checked by
//! [`IntegrationSettings::parse`]: no two fields mapped to one target
//! (compared case-insensitively), `max_wait_seconds` at least
//! `grace_period_seconds`, `retry.max_backoff_seconds` at least
//! `retry.initial_backoff_seconds`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::ToSchema;

use super::extract::{object, objects, JsonObject};
use super::input::{self, NO_NUL_PATTERN};
use super::records::{FieldValue, RecordFields};
use crate::domain::eligibility::Condition;
use crate::domain::fields::FIELD_PATH_PATTERN;
use crate::domain::integration::{ConnectorConfig, IntegrationSettings, DEFAULT_GRACE_PERIOD_SECONDS};
use crate::domain::mapping::target_pattern;
use crate::domain::numbers::Whole;
use crate::domain::retry::RetryPolicy;

/// The record type an integration syncs when the body names none.
pub const DEFAULT_RECORD_TYPE: &str = "employee";
/// What a record type looks like (see `validate_record_type`).
pub const RECORD_TYPE_PATTERN: &str = "^[a-z][a-z0-9_]{0,63}$";

/// The body of `POST /v1/integrations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// Unique within the tenant.
    #[schema(schema_with = input::name_schema)]
    pub name: String,
    /// The record type the integration syncs. Default `employee`.
    #[serde(default = "default_record_type")]
    #[schema(schema_with = body_record_type_schema)]
    pub record_type: String,
    #[serde(deserialize_with = "object")]
    pub connector: ConnectorConfig,
    #[schema(schema_with = field_mapping_schema)]
    pub field_mapping: BTreeMap<String, String>,
    /// Conditions a record must meet to be synced, all of them; empty: every record.
    #[serde(default, deserialize_with = "objects")]
    #[schema(schema_with = eligibility_schema)]
    pub eligibility: Vec<Condition>,
    /// Quiet time after the last relevant change before the sync starts
    /// (0–2592000 seconds, fractions allowed). Default 300.
    #[serde(default = "default_grace")]
    #[schema(minimum = 0, maximum = 2592000)]
    pub grace_period_seconds: f64,
    /// The longest a stream of changes may delay a sync, counted from the
    /// first change (at least `grace_period_seconds`, at most 2592000).
    /// Default 3600, or the grace period if longer.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000)]
    pub max_wait_seconds: Option<f64>,
    #[serde(default, deserialize_with = "object")]
    pub retry: RetryPolicy,
}

fn default_record_type() -> String {
    DEFAULT_RECORD_TYPE.to_owned()
}

fn default_grace() -> f64 {
    DEFAULT_GRACE_PERIOD_SECONDS
}

impl CreateIntegration {
    /// The name, the record type, and the settings the store keeps as the spec.
    pub fn into_parts(self) -> (String, String, IntegrationSettings) {
        let settings = IntegrationSettings {
            connector: self.connector,
            field_mapping: self.field_mapping,
            eligibility: self.eligibility,
            grace_period_seconds: self.grace_period_seconds,
            max_wait_seconds: self.max_wait_seconds,
            retry: self.retry,
        };
        (self.name, self.record_type, settings)
    }
}

/// One key of a JSON Merge Patch: absent (keep the stored value), `null`
/// (remove it), or a new value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Remove,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    // Only called for a key that is present (absent keys take the default).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Patch::Set(value),
            None => Patch::Remove,
        })
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Set(value) => value.serialize(serializer),
            Patch::Keep | Patch::Remove => serializer.serialize_none(),
        }
    }
}

/// A patch of a struct, read from a JSON object only (see [`object`]).
fn patch_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Patch<T>, D::Error> {
    Ok(match Option::<JsonObject<T>>::deserialize(deserializer)? {
        Some(JsonObject(value)) => Patch::Set(value),
        None => Patch::Remove,
    })
}

/// A patch of a list of structs, each read from a JSON object only.
fn patch_objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Patch<Vec<T>>, D::Error> {
    Ok(match Option::<Vec<JsonObject<T>>>::deserialize(deserializer)? {
        Some(list) => Patch::Set(list.into_iter().map(|JsonObject(value)| value).collect()),
        None => Patch::Remove,
    })
}

/// The body of `PATCH /v1/integrations/{id}`: a JSON Merge Patch (RFC 7396)
/// of the body it was created from. A key left out keeps its value; `null`
/// resets a key that has a default (and is refused for one that has none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(schema_with = input::name_schema)]
    pub name: Patch<String>,
    /// `null`: back to `employee`.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(schema_with = nullable_record_type_schema)]
    pub record_type: Patch<String>,
    /// Merged into the stored connector: without `bearer_token` the stored one is kept.
    #[serde(default, skip_serializing_if = "Patch::is_keep", deserialize_with = "patch_object")]
    #[schema(value_type = ConnectorPatch)]
    pub connector: Patch<ConnectorPatch>,
    /// Merged into the stored mapping: a field set to `null` is no longer synced.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(schema_with = field_mapping_patch_schema)]
    pub field_mapping: Patch<BTreeMap<String, Option<String>>>,
    /// Replaces the stored conditions; `null`: none.
    #[serde(default, skip_serializing_if = "Patch::is_keep", deserialize_with = "patch_objects")]
    #[schema(schema_with = nullable_eligibility_schema)]
    pub eligibility: Patch<Vec<Condition>>,
    /// `null`: back to 300.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 2592000)]
    pub grace_period_seconds: Patch<f64>,
    /// `null`: back to the default.
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 2592000)]
    pub max_wait_seconds: Patch<f64>,
    /// Merged into the stored policy; `null`: back to the defaults.
    #[serde(default, skip_serializing_if = "Patch::is_keep", deserialize_with = "patch_object")]
    #[schema(value_type = Option<RetryPatch>)]
    pub retry: Patch<RetryPatch>,
}

/// Which kind of third party a connector reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    Scim,
}

/// A merge patch of an integration's connector.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPatch {
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = ConnectorKind)]
    pub kind: Patch<ConnectorKind>,
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(
        value_type = String,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?:\.[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)*|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*$"
    )]
    pub base_url: Patch<String>,
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = String, pattern = r"^[!-~]+$", min_length = 1)]
    pub bearer_token: Patch<String>,
}

/// A merge patch of an integration's retry policy; `null` resets a key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPatch {
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 20)]
    pub max_attempts: Patch<Whole<u32>>,
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 86400)]
    pub initial_backoff_seconds: Patch<f64>,
    #[serde(default, skip_serializing_if = "Patch::is_keep")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 86400)]
    pub max_backoff_seconds: Patch<f64>,
}

/// The schema of a record type.
pub fn record_type_schema() -> Object {
    input::text_schema(1, Some(64), RECORD_TYPE_PATTERN)
        .description(Some("1–64 lowercase letters, digits or `_`, starting with a letter."))
        .build()
}

/// The record type of an integration's body: `employee` when left out.
fn body_record_type_schema() -> Object {
    let mut schema = record_type_schema();
    schema.default = Some(DEFAULT_RECORD_TYPE.into());
    schema
}

fn nullable_record_type_schema() -> Object {
    let mut schema = body_record_type_schema();
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

fn target_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(target_pattern())).description(Some(
        "A SCIM attribute path: `userName`, `name.givenName`, `emails[type eq \"work\"].value`, or an \
         extension attribute after its schema URN. `id`, `externalId`, `meta`, `schemas` and `active` \
         (in any case) are Lockstep's own.",
    ))
}

fn field_mapping(targets: impl Into<RefOr<Schema>>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(FIELD_PATH_PATTERN))))
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::RefOr(targets.into())))
}

/// Record field path (`address.city`) → third-party attribute path; at
/// least one entry, each target at most once.
pub fn field_mapping_schema() -> Object {
    field_mapping(target_schema())
        .min_properties(Some(1))
        .description(Some(
            "Record field path (`address.city`) → third-party attribute path. At least one entry; \
             no two fields may map to the same target (compared case-insensitively).",
        ))
        .build()
}

fn field_mapping_patch_schema() -> Object {
    let mut target = target_schema().build();
    target.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    let mut schema = field_mapping(target)
        .description(Some("Merged into the stored mapping: a field set to `null` is no longer synced."))
        .build();
    schema.schema_type = SchemaType::from_iter([Type::Object, Type::Null]);
    schema
}

/// One condition of an eligibility filter: its `value` depends on its `op`.
fn condition_schema() -> OneOfBuilder {
    let field = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(FIELD_PATH_PATTERN))
            .description(Some("A record field path, e.g. `employment.status`."))
    };
    let shape = |ops: &[&str], value: Option<RefOr<Schema>>, description: &str| {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("field", field())
            .required("field")
            .property("op", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(ops.to_vec())))
            .required("op")
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<Schema>::FreeForm(false)))
            .description(Some(description));
        if let Some(value) = value {
            object = object.property("value", value).required("value");
        }
        object
    };
    // A value is compared with a record's field, so it follows the rules of one.
    let field_value = || Ref::from_schema_name(FieldValue::name());
    let any_but_null = OneOfBuilder::new()
        .item(input::text_schema(0, None, NO_NUL_PATTERN).build())
        .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Number, Type::Boolean])))
        .item(ArrayBuilder::new().items(field_value()))
        .item(Ref::from_schema_name(RecordFields::name()))
        .build();
    let list = ArrayBuilder::new().items(field_value()).build();
    OneOfBuilder::new()
        .item(shape(
            &["eq", "ne"],
            Some(RefOr::T(Schema::OneOf(any_but_null))),
            "The field equals (`eq`) or differs from (`ne`) `value`.",
        ))
        .item(shape(&["in", "not_in"], Some(list.into()), "The field is one of (`in`) or none of (`not_in`) `value`."))
        .item(shape(&["exists", "not_exists"], None, "The field is present and not null, or not."))
}

/// The conditions of an eligibility filter.
pub fn eligibility_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(condition_schema())
        .description(Some("Conditions a record must meet to be synced, all of them; empty: every record."))
        .build()
}

fn nullable_eligibility_schema() -> utoipa::openapi::schema::Array {
    let mut schema = eligibility_schema();
    schema.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_tells_absent_from_null() {
        let patch: IntegrationPatch =
            serde_json::from_value(json!({"name": "New", "max_wait_seconds": null, "retry": {"max_attempts": null}}))
                .unwrap();
        assert_eq!(patch.name, Patch::Set("New".into()));
        assert_eq!(patch.max_wait_seconds, Patch::Remove);
        assert_eq!(patch.grace_period_seconds, Patch::Keep);
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"name": "New", "max_wait_seconds": null, "retry": {"max_attempts": null}})
        );
    }

    #[test]
    fn a_patch_refuses_unknown_keys_at_every_level() {
        assert!(serde_json::from_value::<IntegrationPatch>(json!({"colour": 1})).is_err());
        assert!(serde_json::from_value::<IntegrationPatch>(json!({"connector": {"password": "x"}})).is_err());
        assert!(serde_json::from_value::<IntegrationPatch>(json!({"connector": {"kind": "ftp"}})).is_err());
        assert!(serde_json::from_value::<IntegrationPatch>(json!({"retry": [null, null]})).is_err());
        assert!(serde_json::from_value::<IntegrationPatch>(json!({"eligibility": [["a", "exists"]]})).is_err());
    }

    #[test]
    fn a_create_reads_flat_settings_with_defaults() {
        let body: CreateIntegration = serde_json::from_value(json!({
            "name": "Directory",
            "connector": {"kind": "scim", "base_url": "https://scim.example.com", "bearer_token": "t"},
            "field_mapping": {"email": "userName"}
        }))
        .unwrap();
        let (name, record_type, settings) = body.into_parts();
        assert_eq!((name.as_str(), record_type.as_str()), ("Directory", "employee"));
        assert_eq!(settings.grace_period_seconds, 300.0);
        assert!(serde_json::from_value::<CreateIntegration>(json!({"name": "x", "colour": 1})).is_err());
    }
}
