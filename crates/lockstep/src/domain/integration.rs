//! Integration specs: what an admin configures (connector, field mapping,
//! eligibility, grace period, max wait, retry policy), how it is validated,
//! and the parsed [`IntegrationRules`] the planner and workers use.
//!
//! A connector's credentials are [`Credential`]s: a string as an admin
//! sends it, sealed (encrypted, see [`crate::secrets`]) as the store keeps
//! it. Rules carry them sealed; only [`ScimConnectorSpec::reveal`], called
//! where a connector is built, decrypts.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::eligibility::{Condition, Eligibility};
use super::mapping::FieldMapping;
use super::retry::RetryPolicy;
use crate::secrets::{Credential, Keyring, OpenError, SecretContext};

/// The grace period when none is configured: five minutes.
pub const DEFAULT_GRACE_PERIOD_SECONDS: f64 = 300.0;
/// The max wait when none is configured: an hour (or the grace period, if longer).
pub const DEFAULT_MAX_WAIT_SECONDS: f64 = 3600.0;
const MAX_PERIOD_SECONDS: f64 = 30.0 * 86_400.0;

/// How an integration reaches its third party. The credentials are stored
/// encrypted and never returned by the API.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorConfig {
    /// A SCIM 2.0 service provider (RFC 7643/7644).
    Scim(ScimConnectorSpec),
}

/// Where a SCIM 2.0 third party lives and how to authenticate, as an
/// integration's spec holds it.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimConnectorSpec {
    /// The SCIM base URL; `/Users` is appended. An http or https URL with a
    /// host; an address the operator's outbound policy refuses (a private,
    /// loopback or link-local one unless allowed) is refused with 422.
    /// Moving it to another origin (scheme, host, port) takes a new
    /// `bearer_token` in the same request.
    #[schema(
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?:\.[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)*|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*$"
    )]
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`: visible ASCII, no spaces.
    /// Write-only: stored encrypted, never returned.
    #[schema(value_type = String, pattern = r"^[!-~]+$", min_length = 1)]
    pub bearer_token: Credential,
}

/// What a SCIM connector is built with: the spec with its token decrypted.
/// Lives only as long as the connector it builds.
#[derive(Clone)]
pub struct ScimConnectorConfig {
    pub base_url: String,
    pub bearer_token: String,
}

/// The path of the SCIM bearer token in the API, and in its ciphertext's
/// associated data.
pub const BEARER_TOKEN_FIELD: &str = "connector.bearer_token";

impl std::fmt::Debug for ConnectorConfig {
    // Credentials never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorConfig::Scim(c) => f.debug_tuple("Scim").field(c).finish(),
        }
    }
}

impl std::fmt::Debug for ScimConnectorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimConnectorSpec")
            .field("base_url", &self.base_url)
            .field("bearer_token", &self.bearer_token)
            .finish()
    }
}

impl std::fmt::Debug for ScimConnectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimConnectorConfig").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl ScimConnectorSpec {
    /// What the token's ciphertext is bound to, for a tenant.
    fn secret_origin(&self) -> String {
        origin_of(&self.base_url).unwrap_or_else(|| "null".to_owned())
    }

    /// The config to build a connector with, the token decrypted.
    pub fn reveal(&self, keyring: &Keyring, tenant_id: i64) -> Result<ScimConnectorConfig, OpenError> {
        let origin = self.secret_origin();
        let context = SecretContext { tenant_id, field: BEARER_TOKEN_FIELD, origin: &origin };
        let token = self.bearer_token.reveal(keyring, &context)?;
        Ok(ScimConnectorConfig { base_url: self.base_url.clone(), bearer_token: token.as_str().to_owned() })
    }
}

impl ConnectorConfig {
    /// The third party's base URL.
    pub fn base_url(&self) -> &str {
        match self {
            ConnectorConfig::Scim(c) => &c.base_url,
        }
    }

    /// The kind, as configured.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Scim(_) => "scim",
        }
    }

    /// The form to store: every secret sealed under the keyring's first key
    /// and bound to the tenant, its field and the base URL's origin.
    pub fn sealed(&self, keyring: &Keyring, tenant_id: i64) -> ConnectorConfig {
        match self {
            ConnectorConfig::Scim(c) => {
                let origin = c.secret_origin();
                let context = SecretContext { tenant_id, field: BEARER_TOKEN_FIELD, origin: &origin };
                ConnectorConfig::Scim(ScimConnectorSpec {
                    base_url: c.base_url.clone(),
                    bearer_token: c.bearer_token.sealed(keyring, &context),
                })
            }
        }
    }
}

/// The origin (`scheme://host[:port]`) of a URL, when it is one.
pub fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization())
}

/// Whether two URLs share scheme, host and port: a credential meant for one
/// may be sent to the other.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin().is_tuple() && a.origin() == b.origin(),
        _ => false,
    }
}

/// Everything an integration is configured with except its name and record
/// type; this is what the store keeps as the integration's `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSettings {
    pub connector: ConnectorConfig,
    /// Record field path → third-party attribute path.
    pub field_mapping: BTreeMap<String, String>,
    /// Conditions a record must meet to be synced; empty: every record.
    #[serde(default)]
    pub eligibility: Vec<Condition>,
    /// Quiet time after the last relevant change before the sync starts.
    #[serde(default = "default_grace")]
    pub grace_period_seconds: f64,
    /// The longest a stream of changes may delay a sync, counted from the
    /// first change of the quiet period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_seconds: Option<f64>,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_grace() -> f64 {
    DEFAULT_GRACE_PERIOD_SECONDS
}

/// Why an integration spec was refused: the key at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn spec_error(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { field: field.to_owned(), message: message.into() }
}

/// Checks a record type name: lowercase letters, digits and `_`, starting with a letter.
pub fn validate_record_type(record_type: &str) -> Result<(), SpecError> {
    let mut chars = record_type.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && record_type.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(spec_error("record_type", "must be 1–64 lowercase letters, digits or `_`, starting with a letter"))
    }
}

/// A parsed, validated integration: what the planner and the workers use.
#[derive(Debug, Clone)]
pub struct IntegrationRules {
    pub id: i64,
    pub name: String,
    pub record_type: String,
    pub connector: ConnectorConfig,
    pub mapping: FieldMapping,
    pub eligibility: Eligibility,
    pub grace_period: Duration,
    pub max_wait: Duration,
    pub retry: RetryPolicy,
}

impl IntegrationSettings {
    /// Validates every key and parses the settings into rules.
    pub fn parse(&self, id: i64, name: &str, record_type: &str) -> Result<IntegrationRules, SpecError> {
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(spec_error("name", "must be 1–200 characters"));
        }
        validate_record_type(record_type)?;
        match &self.connector {
            ConnectorConfig::Scim(scim) => {
                let url = url::Url::parse(&scim.base_url)
                    .map_err(|e| spec_error("connector.base_url", format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(spec_error("connector.base_url", "must be an http or https URL with a host"));
                }
                // It is sent as a header value: a stray space or newline (a
                // copy-paste slip) would fail every sync, so it fails here.
                // A sealed token was checked when it was sent.
                if let Credential::Clear(token) = &scim.bearer_token {
                    if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
                        return Err(spec_error(
                            BEARER_TOKEN_FIELD,
                            "must be 1 or more visible ASCII characters (no spaces)",
                        ));
                    }
                }
            }
        }
        let mapping =
            FieldMapping::parse(&self.field_mapping).map_err(|e| spec_error("field_mapping", e.to_string()))?;
        let eligibility =
            Eligibility::parse(&self.eligibility).map_err(|e| spec_error("eligibility", e.to_string()))?;
        let grace = self.grace_period_seconds;
        if !grace.is_finite() || !(0.0..=MAX_PERIOD_SECONDS).contains(&grace) {
            return Err(spec_error("grace_period_seconds", "must be between 0 and 2592000 (30 days)"));
        }
        let max_wait = self.max_wait_seconds.unwrap_or_else(|| DEFAULT_MAX_WAIT_SECONDS.max(grace));
        if !max_wait.is_finite() || max_wait < grace || max_wait > MAX_PERIOD_SECONDS {
            return Err(spec_error(
                "max_wait_seconds",
                "must be at least grace_period_seconds and at most 2592000 (30 days)",
            ));
        }
        self.retry.validate().map_err(|m| spec_error("retry", m))?;
        Ok(IntegrationRules {
            id,
            name: name.to_owned(),
            record_type: record_type.to_owned(),
            connector: self.connector.clone(),
            mapping,
            eligibility,
            grace_period: seconds(grace),
            max_wait: seconds(max_wait),
            retry: self.retry.clone(),
        })
    }
}

fn seconds(value: f64) -> Duration {
    Duration::milliseconds((value * 1000.0).round() as i64)
}

impl IntegrationRules {
    /// Parses a stored integration; a spec the current code cannot read is
    /// reported, not panicked on.
    pub fn from_stored(stored: &lockstep_store::Integration) -> Result<Self, SpecError> {
        let settings: IntegrationSettings =
            serde_json::from_value(stored.spec.clone()).map_err(|e| spec_error("spec", e.to_string()))?;
        settings.parse(stored.id, &stored.name, &stored.record_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: serde_json::Value) -> Result<IntegrationSettings, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn base() -> serde_json::Value {
        json!({
            "connector": {"kind": "scim", "base_url": "http://127.0.0.1:9/scim", "bearer_token": "t"},
            "field_mapping": {"email": "userName"}
        })
    }

    #[test]
    fn defaults_are_five_minutes_and_an_hour() {
        let rules = settings(base()).unwrap().parse(1, "Directory", "employee").unwrap();
        assert_eq!(rules.grace_period, Duration::minutes(5));
        assert_eq!(rules.max_wait, Duration::hours(1));
    }

    #[test]
    fn fractional_grace_periods_are_allowed() {
        let mut v = base();
        v["grace_period_seconds"] = json!(0.5);
        let rules = settings(v).unwrap().parse(1, "D", "employee").unwrap();
        assert_eq!(rules.grace_period, Duration::milliseconds(500));
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let mut v = base();
        v["colour"] = json!("blue");
        assert!(settings(v).is_err());
        let mut v = base();
        v["connector"]["password"] = json!("x");
        assert!(settings(v).is_err());
        let mut v = base();
        v["connector"]["kind"] = json!("ftp");
        assert!(settings(v).is_err());
    }

    #[test]
    fn invalid_values_name_their_key() {
        let mut v = base();
        v["field_mapping"] = json!({"email": "emails[type eq work].value"});
        let err = settings(v).unwrap().parse(1, "D", "employee").unwrap_err();
        assert_eq!(err.field, "field_mapping");
        let mut v = base();
        v["max_wait_seconds"] = json!(10);
        let err = settings(v).unwrap().parse(1, "D", "employee").unwrap_err();
        assert_eq!(err.field, "max_wait_seconds");
        let err = settings(base()).unwrap().parse(1, "D", "Employee").unwrap_err();
        assert_eq!(err.field, "record_type");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let mut v = base();
        v["connector"]["bearer_token"] = json!("token-in-clear");
        let s = settings(v).unwrap();
        assert!(!format!("{s:?}").contains("token-in-clear"), "{s:?}");
        let ConnectorConfig::Scim(spec) = &s.connector;
        let config = ScimConnectorConfig { base_url: spec.base_url.clone(), bearer_token: "token-in-clear".into() };
        assert!(!format!("{config:?}").contains("token-in-clear"));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin("http://127.0.0.1:9/scim", "http://127.0.0.1:9/other/v2"));
        assert!(same_origin("https://Scim.Example/a", "https://scim.example:443/b"));
        assert!(!same_origin("http://scim.example/a", "https://scim.example/a"));
        assert!(!same_origin("http://scim.example/a", "http://scim.example:8080/a"));
        assert!(!same_origin("http://scim.example/a", "http://evil.example/a"));
        assert!(!same_origin("not a url", "not a url"));
        assert_eq!(origin_of("https://Scim.Example:443/v2").as_deref(), Some("https://scim.example"));
    }

    #[test]
    fn a_stored_clear_token_reads_and_a_sealed_one_opens_only_for_its_tenant_and_origin() {
        use crate::secrets::SecretKey;
        let keys = Keyring::new(vec![SecretKey::generate()]).unwrap();
        let older = settings(base()).unwrap();
        let ConnectorConfig::Scim(spec) = &older.connector;
        assert_eq!(spec.reveal(&keys, 1).unwrap().bearer_token, "t", "a token stored in clear still works");

        let sealed = older.connector.sealed(&keys, 1);
        assert!(!serde_json::to_string(&sealed).unwrap().contains("\"t\""));
        let ConnectorConfig::Scim(spec) = &sealed;
        assert_eq!(spec.reveal(&keys, 1).unwrap().bearer_token, "t");
        assert!(spec.reveal(&keys, 2).is_err(), "another tenant");
        let moved = ScimConnectorSpec { base_url: "http://evil.example/scim".into(), ..spec.clone() };
        assert!(moved.reveal(&keys, 1).is_err(), "another origin");
        let same_host = ScimConnectorSpec { base_url: "http://127.0.0.1:9/v2".into(), ..spec.clone() };
        assert_eq!(same_host.reveal(&keys, 1).unwrap().bearer_token, "t", "another path of the same origin");
    }
}
