//! Fault injection and request accounting: the switches tests and the demo
//! flip to make the sandbox slow, down, flaky or picky, and the counters they
//! read to prove how many requests a sync sent.
//!
//! [`FaultSettings`] is the whole state of the switches, the same JSON at
//! `GET/PUT /_sandbox/faults` and through [`Faults`] in-process:
//! - `latency_ms`: every SCIM request waits this long before it is answered;
//! - `outage`: every `/Users` request answers 503 until switched off;
//! - `fail_next`: the next N `/Users` requests answer `status_for_next`
//!   (503 unless set; a 429 carries `Retry-After: 1`), then it counts down;
//! - `reject`: writes whose resulting User has `attribute` equal to `value`
//!   answer 400 `invalidValue` (see [`check_rejections`]).
//!
//! Faults hit `/Users…` and `/.search` (the resource endpoints a connector
//! syncs through); discovery endpoints only get the latency, and `/_sandbox`
//! nothing, so a test can always switch faults off again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ScimError;
use super::path::PatchPath;

/// A write refused when it would leave `attribute` equal to `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectRule {
    /// An attribute path: `title`, `name.familyName`, `emails.value`,
    /// `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`.
    pub attribute: String,
    /// The refused value, compared exactly (non-strings by their JSON text).
    pub value: String,
}

impl RejectRule {
    pub fn new(attribute: impl Into<String>, value: impl Into<String>) -> Self {
        RejectRule { attribute: attribute.into(), value: value.into() }
    }

    /// Whether the attribute path parses; a rule that does not never matches.
    pub fn validate(&self) -> Result<(), String> {
        PatchPath::parse(&self.attribute).map(|_| ())
    }

    fn matches(&self, user: &Value) -> bool {
        let Ok(path) = PatchPath::parse(&self.attribute) else {
            return false;
        };
        path.values(user).into_iter().any(|v| match v {
            Value::String(s) => *s == self.value,
            other => serde_json::to_string(other).is_ok_and(|text| text == self.value),
        })
    }
}

/// `ATTR=VALUE`, split at the first `=` outside brackets and quotes (a value
/// filter in ATTR may hold one).
impl std::str::FromStr for RejectRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut depth = 0usize;
        let mut in_string = false;
        let split = text.char_indices().find(|&(_, c)| {
            match c {
                '"' => in_string = !in_string,
                '[' if !in_string => depth += 1,
                ']' if !in_string => depth = depth.saturating_sub(1),
                '=' if !in_string && depth == 0 => return true,
                _ => {}
            }
            false
        });
        let Some((at, _)) = split else {
            return Err(format!("expected ATTR=VALUE, got \"{text}\""));
        };
        let rule = RejectRule::new(text[..at].trim(), &text[at + 1..]);
        rule.validate()?;
        Ok(rule)
    }
}

/// Refuses a write whose resulting User (rendered) matches a reject rule.
pub fn check_rejections(rules: &[RejectRule], user: &Value) -> Result<(), ScimError> {
    match rules.iter().find(|rule| rule.matches(user)) {
        None => Ok(()),
        Some(rule) => Err(ScimError::invalid_value(format!(
            "attribute \"{}\" may not be \"{}\" (refused by a sandbox reject rule)",
            rule.attribute, rule.value
        ))),
    }
}

/// The state of every fault switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    pub latency_ms: u64,
    pub outage: bool,
    pub reject: Vec<RejectRule>,
    pub fail_next: u32,
    /// The status the `fail_next` requests answer; 503 when unset.
    pub status_for_next: Option<u16>,
}

impl FaultSettings {
    pub fn validate(&self) -> Result<(), String> {
        for rule in &self.reject {
            rule.validate()?;
        }
        match self.status_for_next {
            Some(status) if !(400..=599).contains(&status) => {
                Err(format!("status_for_next must be an error status (400-599), got {status}"))
            }
            _ => Ok(()),
        }
    }
}

/// The live fault switches of one sandbox; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultSettings>>);

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Faults(Arc::new(Mutex::new(settings)))
    }

    fn lock(&self) -> MutexGuard<'_, FaultSettings> {
        // A panic elsewhere cannot leave the settings half-written; keep serving.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current switches.
    pub fn settings(&self) -> FaultSettings {
        self.lock().clone()
    }

    /// Replaces every switch at once.
    pub fn replace(&self, settings: FaultSettings) {
        *self.lock() = settings;
    }

    /// Switches everything off.
    pub fn clear(&self) {
        self.replace(FaultSettings::default());
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    }

    pub fn set_outage(&self, outage: bool) {
        self.lock().outage = outage;
    }

    pub fn add_reject(&self, rule: RejectRule) {
        self.lock().reject.push(rule);
    }

    /// The next `count` `/Users` requests answer 503.
    pub fn fail_next(&self, count: u32) {
        self.fail_next_with(count, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// The next `count` `/Users` requests answer `status` (e.g. 429).
    pub fn fail_next_with(&self, count: u32, status: StatusCode) {
        let mut settings = self.lock();
        settings.fail_next = count;
        settings.status_for_next = Some(status.as_u16());
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().latency_ms)
    }

    pub(crate) fn rejections(&self) -> Vec<RejectRule> {
        self.lock().reject.clone()
    }

    /// The injected failure the next resource request gets, if any; consumes
    /// one `fail_next`.
    pub(crate) fn take_failure(&self) -> Option<ScimError> {
        let mut settings = self.lock();
        if settings.outage {
            return Some(ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the directory is unavailable (sandbox outage)",
            ));
        }
        if settings.fail_next == 0 {
            return None;
        }
        settings.fail_next -= 1;
        let status = settings
            .status_for_next
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let error = ScimError::new(status, None, format!("injected failure ({} more to come)", settings.fail_next));
        Some(if status == StatusCode::TOO_MANY_REQUESTS { error.with_retry_after(1) } else { error })
    }
}

/// Counts of the requests `/Users…` and `/.search` received, as served at
/// `GET /_sandbox/stats`. Every request counts, including refused ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Requests to `/Users` and `/Users/{id}` by HTTP method (`"GET"`, `"POST"`, …).
    pub by_method: BTreeMap<String, u64>,
    /// `POST /.search` and `POST /Users/.search` requests (reads, not writes).
    pub searches: u64,
    /// Requests answered with an injected outage or `fail_next` status.
    pub failed_by_faults: u64,
    /// Users that list and search filters were evaluated on. A filter on
    /// `id`, `externalId` or `userName` equality examines only the Users
    /// with that value; any other filter examines every User.
    pub users_examined: u64,
}

impl RequestStats {
    /// Requests received with `method` (case-insensitive).
    pub fn count(&self, method: &str) -> u64 {
        self.by_method.get(&method.to_ascii_uppercase()).copied().unwrap_or(0)
    }

    /// Write requests received: POST, PUT, PATCH and DELETE on `/Users`.
    pub fn writes(&self) -> u64 {
        ["POST", "PUT", "PATCH", "DELETE"].iter().map(|m| self.count(m)).sum()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reject_rules_parse_from_the_command_line() {
        let rule: RejectRule = "title=Forbidden".parse().expect("rule");
        assert_eq!(rule, RejectRule::new("title", "Forbidden"));
        let rule: RejectRule = r#"emails[type eq "a=b"].value=x=y"#.parse().expect("rule");
        assert_eq!(rule, RejectRule::new(r#"emails[type eq "a=b"].value"#, "x=y"));
        assert!("title".parse::<RejectRule>().is_err());
        assert!("bad path!=x".parse::<RejectRule>().is_err());
    }

    #[test]
    fn reject_rules_match_nested_multi_valued_and_extension_values() {
        let user = json!({
            "title": "Forbidden",
            "active": false,
            "name": {"familyName": "Nope"},
            "emails": [{"type": "work", "value": "bad@example.com"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
        });
        let refused =
            |attribute: &str, value: &str| check_rejections(&[RejectRule::new(attribute, value)], &user).is_err();
        assert!(refused("title", "Forbidden"));
        assert!(!refused("title", "forbidden"));
        assert!(refused("name.familyName", "Nope"));
        assert!(refused("emails.value", "bad@example.com"));
        assert!(refused(r#"emails[type eq "work"].value"#, "bad@example.com"));
        assert!(!refused(r#"emails[type eq "home"].value"#, "bad@example.com"));
        assert!(refused("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "Sales"));
        assert!(refused("active", "false"));
        let err = check_rejections(&[RejectRule::new("title", "Forbidden")], &user).expect_err("refused");
        assert_eq!(err.scim_type, Some("invalidValue"));
        assert!(err.detail.contains("title") && err.detail.contains("Forbidden"), "{}", err.detail);
    }

    #[test]
    fn fail_next_counts_down_and_outage_persists() {
        let faults = Faults::default();
        faults.fail_next_with(2, StatusCode::TOO_MANY_REQUESTS);
        let first = faults.take_failure().expect("first fails");
        assert_eq!((first.status, first.retry_after), (StatusCode::TOO_MANY_REQUESTS, Some(1)));
        assert!(faults.take_failure().is_some());
        assert!(faults.take_failure().is_none());
        faults.set_outage(true);
        assert!(faults.take_failure().is_some());
        assert!(faults.take_failure().is_some());
        faults.clear();
        assert!(faults.take_failure().is_none());
    }

    #[test]
    fn settings_json_defaults_missing_fields() {
        let settings: FaultSettings = serde_json::from_value(json!({"outage": true})).expect("json");
        assert_eq!(settings, FaultSettings { outage: true, ..FaultSettings::default() });
        assert!(FaultSettings { status_for_next: Some(200), ..FaultSettings::default() }.validate().is_err());
    }
}
