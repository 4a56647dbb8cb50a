//! The tenant's settings: notification channels, the email delay, how
//! long a request waits before work goes to the background, and how long
//! a Sync Overview stays valid. `PATCH` changes only the keys it names;
//! a key out of range is a 422 naming it, and nothing is written.

use axum::extract::State;

use super::extract::{AuthAdmin, Json};
use super::problem::{ApiError, Problem};
use crate::domain::settings::{SettingsPatch, TenantSettings};
use crate::engine::settings::SettingsChangeError;
use crate::http::AppState;

/// The tenant's settings.
#[utoipa::path(get, path = "/v1/settings", tag = "settings", security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings, every key set", body = TenantSettings),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: AuthAdmin,
) -> Result<axum::Json<TenantSettings>, ApiError> {
    Ok(axum::Json(state.engine.settings(caller.tenant_id).await?))
}

/// Changes some of the tenant's settings.
#[utoipa::path(patch, path = "/v1/settings", tag = "settings", security(("bearer" = [])),
    request_body(content = SettingsPatch, description = "The keys to change"),
    responses(
        (status = 200, description = "The settings after the change", body = TenantSettings),
        (status = 422, description = "A key out of range or unknown, named in `errors`", body = Problem),
    ))]
pub async fn patch_settings(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Json(patch): Json<SettingsPatch>,
) -> Result<axum::Json<TenantSettings>, ApiError> {
    match state.engine.change_settings(caller.tenant_id, &patch).await {
        Ok(settings) => Ok(axum::Json(settings)),
        Err(SettingsChangeError::Invalid(error)) => {
            Err(ApiError::invalid_field(error.key, format!("must be between {} and {}", error.least, error.most)))
        }
        Err(SettingsChangeError::NoTenant) => Err(ApiError::NotFound("no such tenant".into())),
        Err(SettingsChangeError::Store(error)) => Err(error.into()),
    }
}
