//! A tenant's settings: how its admins hear that background work ended,
//! how long a request waits before work goes to the background, and how
//! long a Sync Overview stays valid. Absent keys take their defaults, so a
//! tenant that never set anything has them all.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a notification reaches an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Listed in the platform (`GET /v1/notifications`).
    InApp,
    /// Emailed, when not seen in the platform within `email_delay_seconds`.
    Email,
}

/// Default email delay: 15 minutes.
pub const DEFAULT_EMAIL_DELAY_SECONDS: u32 = 900;
/// Default wait before work goes to the background: a minute.
pub const DEFAULT_BACKGROUND_AFTER_SECONDS: u32 = 60;
/// Default validity of a Sync Overview: 7 days.
pub const DEFAULT_OVERVIEW_VALIDITY_SECONDS: u32 = 7 * 86_400;

/// The ranges each setting accepts: (key, least, most).
pub const RANGES: &[(&str, u32, u32)] = &[
    ("email_delay_seconds", 0, 7 * 86_400),
    ("background_after_seconds", 0, 600),
    ("overview_validity_seconds", 60, 90 * 86_400),
];

/// A tenant's settings, every key set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantSettings {
    /// Where notifications go: any of `in_app`, `email` (none: admins are
    /// not notified).
    pub notification_channels: Vec<Channel>,
    /// How long an in-platform notification may stay unseen before it is
    /// also emailed (0–604800).
    #[schema(minimum = 0, maximum = 604800)]
    pub email_delay_seconds: u32,
    /// How long a Sync Overview or Sync Now request waits for its result
    /// before the work goes on in the background (0–600).
    #[schema(minimum = 0, maximum = 600)]
    pub background_after_seconds: u32,
    /// How long a Sync Overview stays valid (60–7776000).
    #[schema(minimum = 60, maximum = 7776000)]
    pub overview_validity_seconds: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            notification_channels: vec![Channel::InApp, Channel::Email],
            email_delay_seconds: DEFAULT_EMAIL_DELAY_SECONDS,
            background_after_seconds: DEFAULT_BACKGROUND_AFTER_SECONDS,
            overview_validity_seconds: DEFAULT_OVERVIEW_VALIDITY_SECONDS,
        }
    }
}

/// A change to some settings; absent keys are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// Where notifications go: any of `in_app`, `email`.
    pub notification_channels: Option<Vec<Channel>>,
    /// 0–604800.
    #[schema(minimum = 0, maximum = 604800)]
    pub email_delay_seconds: Option<u32>,
    /// 0–600.
    #[schema(minimum = 0, maximum = 600)]
    pub background_after_seconds: Option<u32>,
    /// 60–7776000.
    #[schema(minimum = 60, maximum = 7776000)]
    pub overview_validity_seconds: Option<u32>,
}

/// A setting out of its range: the key and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} must be between {least} and {most}")]
pub struct SettingsError {
    pub key: &'static str,
    pub least: u32,
    pub most: u32,
}

impl TenantSettings {
    /// The settings as stored: missing keys (settings stored by an older
    /// version, or never) take their defaults.
    pub fn from_stored(value: Option<&serde_json::Value>) -> TenantSettings {
        #[derive(Deserialize)]
        struct Stored {
            notification_channels: Option<Vec<Channel>>,
            email_delay_seconds: Option<u32>,
            background_after_seconds: Option<u32>,
            overview_validity_seconds: Option<u32>,
        }
        let defaults = TenantSettings::default();
        let Some(stored) = value.and_then(|v| serde_json::from_value::<Stored>(v.clone()).ok()) else {
            return defaults;
        };
        TenantSettings {
            notification_channels: stored.notification_channels.unwrap_or(defaults.notification_channels),
            email_delay_seconds: stored.email_delay_seconds.unwrap_or(defaults.email_delay_seconds),
            background_after_seconds: stored.background_after_seconds.unwrap_or(defaults.background_after_seconds),
            overview_validity_seconds: stored.overview_validity_seconds.unwrap_or(defaults.overview_validity_seconds),
        }
    }

    /// These settings with `patch` applied, every key checked.
    pub fn patched(&self, patch: &SettingsPatch) -> Result<TenantSettings, SettingsError> {
        let mut next = self.clone();
        if let Some(channels) = &patch.notification_channels {
            let mut channels = channels.clone();
            channels.sort();
            channels.dedup();
            next.notification_channels = channels;
        }
        let checked = |key: &'static str, value: Option<u32>, current: u32| -> Result<u32, SettingsError> {
            let Some(value) = value else { return Ok(current) };
            let (_, least, most) = RANGES.iter().find(|(k, _, _)| *k == key).copied().expect("every key has a range");
            if (least..=most).contains(&value) {
                Ok(value)
            } else {
                Err(SettingsError { key, least, most })
            }
        };
        next.email_delay_seconds = checked("email_delay_seconds", patch.email_delay_seconds, next.email_delay_seconds)?;
        next.background_after_seconds =
            checked("background_after_seconds", patch.background_after_seconds, next.background_after_seconds)?;
        next.overview_validity_seconds =
            checked("overview_validity_seconds", patch.overview_validity_seconds, next.overview_validity_seconds)?;
        Ok(next)
    }

    pub fn in_app(&self) -> bool {
        self.notification_channels.contains(&Channel::InApp)
    }

    pub fn email(&self) -> bool {
        self.notification_channels.contains(&Channel::Email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tenant_that_never_set_anything_has_the_defaults() {
        let settings = TenantSettings::from_stored(None);
        assert!(settings.in_app() && settings.email());
        assert_eq!(settings.email_delay_seconds, 900);
        assert_eq!(settings.background_after_seconds, 60);
        assert_eq!(settings.overview_validity_seconds, 604_800);
        let partial = TenantSettings::from_stored(Some(&json!({"email_delay_seconds": 5})));
        assert_eq!((partial.email_delay_seconds, partial.background_after_seconds), (5, 60));
    }

    #[test]
    fn a_patch_changes_only_its_keys_and_names_a_key_out_of_range() {
        let patch =
            SettingsPatch { notification_channels: Some(vec![Channel::Email, Channel::Email]), ..Default::default() };
        let next = TenantSettings::default().patched(&patch).unwrap();
        assert_eq!(next.notification_channels, vec![Channel::Email]);
        assert_eq!(next.email_delay_seconds, 900);
        let too_long = SettingsPatch { background_after_seconds: Some(601), ..Default::default() };
        let error = TenantSettings::default().patched(&too_long).unwrap_err();
        assert_eq!(error.key, "background_after_seconds");
        let too_short = SettingsPatch { overview_validity_seconds: Some(59), ..Default::default() };
        assert_eq!(TenantSettings::default().patched(&too_short).unwrap_err().key, "overview_validity_seconds");
    }
}
