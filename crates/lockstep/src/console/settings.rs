//! The tenant's settings as a form: notification channels, email delay,
//! background threshold, overview validity. Saved through the same rules
//! as `PATCH /v1/settings`: every value is checked, and a value out of its
//! range is shown beside its field with nothing saved.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::page::{render, Chrome, PageError};
use super::session::ConsoleAdmin;
use crate::domain::settings::{Channel, SettingsPatch, TenantSettings};
use crate::engine::settings::SettingsChangeError;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    in_app: bool,
    email: bool,
    email_delay_seconds: String,
    background_after_seconds: String,
    overview_validity_seconds: String,
    /// Field → what is wrong with it.
    errors: BTreeMap<&'static str, String>,
    saved: bool,
}

impl SettingsPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

async fn page(
    state: &AppState,
    admin: &ConsoleAdmin,
    settings: &TenantSettings,
    errors: BTreeMap<&'static str, String>,
    saved: bool,
) -> Result<SettingsPage, PageError> {
    Ok(SettingsPage {
        chrome: Chrome::new(state, admin, "Settings", "settings", "").await?,
        in_app: settings.notification_channels.contains(&Channel::InApp),
        email: settings.notification_channels.contains(&Channel::Email),
        email_delay_seconds: settings.email_delay_seconds.to_string(),
        background_after_seconds: settings.background_after_seconds.to_string(),
        overview_validity_seconds: settings.overview_validity_seconds.to_string(),
        errors,
        saved,
    })
}

/// `GET /console/settings`.
pub async fn show(State(state): State<AppState>, admin: ConsoleAdmin) -> Result<Response, PageError> {
    let settings = state.engine.settings(admin.tenant_id).await?;
    render(&page(&state, &admin, &settings, BTreeMap::new(), false).await?)
}

/// `POST /console/settings`.
pub async fn save(State(state): State<AppState>, admin: ConsoleAdmin, body: Bytes) -> Result<Response, PageError> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim().to_owned());
    let mut errors = BTreeMap::new();
    let mut number = |key: &'static str| -> Option<u32> {
        let raw = value(key)?;
        match raw.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert(key, "must be a whole number of seconds".to_owned());
                None
            }
        }
    };
    let mut channels = Vec::new();
    for (k, v) in &form {
        if k == "channel" {
            match v.as_str() {
                "in_app" => channels.push(Channel::InApp),
                "email" => channels.push(Channel::Email),
                _ => {}
            }
        }
    }
    let patch = SettingsPatch {
        notification_channels: Some(channels),
        email_delay_seconds: number("email_delay_seconds"),
        background_after_seconds: number("background_after_seconds"),
        overview_validity_seconds: number("overview_validity_seconds"),
    };
    if errors.is_empty() {
        match state.engine.change_settings(admin.tenant_id, &patch).await {
            Ok(settings) => return render(&page(&state, &admin, &settings, errors, true).await?),
            Err(SettingsChangeError::Invalid(e)) => {
                errors.insert(e.key, format!("must be between {} and {}", e.least, e.most));
            }
            Err(SettingsChangeError::NoTenant) => return Err(PageError::not_found("Your tenant no longer exists.")),
            Err(SettingsChangeError::Store(e)) => return Err(e.into()),
        }
    }
    // Nothing saved: the form again, with what was typed and what is wrong.
    let current = state.engine.settings(admin.tenant_id).await?;
    let mut shown = page(&state, &admin, &current, errors, false).await?;
    shown.in_app = patch.notification_channels.as_ref().is_some_and(|c| c.contains(&Channel::InApp));
    shown.email = patch.notification_channels.as_ref().is_some_and(|c| c.contains(&Channel::Email));
    for (key, slot) in [
        ("email_delay_seconds", &mut shown.email_delay_seconds),
        ("background_after_seconds", &mut shown.background_after_seconds),
        ("overview_validity_seconds", &mut shown.overview_validity_seconds),
    ] {
        if let Some(v) = value(key) {
            *slot = v;
        }
    }
    let mut response = render(&shown)?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response.into_response())
}
