//! A tenant's settings as the engine reads and changes them: the stored
//! JSON with every missing key at its default, and a patch checked key by
//! key before anything is written.

use lockstep_store::StoreError;

use crate::domain::settings::{SettingsError, SettingsPatch, TenantSettings};
use crate::engine::Engine;

/// Why settings could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsChangeError {
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error("no such tenant")]
    NoTenant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// The tenant's settings (the defaults when never set).
    pub async fn settings(&self, tenant_id: i64) -> Result<TenantSettings, StoreError> {
        let stored = self.store.get_settings(tenant_id).await?;
        Ok(TenantSettings::from_stored(stored.as_ref().map(|s| &s.settings)))
    }

    /// Applies `patch` to the tenant's settings; nothing is written unless
    /// every key is in range.
    pub async fn change_settings(
        &self,
        tenant_id: i64,
        patch: &SettingsPatch,
    ) -> Result<TenantSettings, SettingsChangeError> {
        let next = self.settings(tenant_id).await?.patched(patch)?;
        let value = serde_json::to_value(&next).expect("settings serialise");
        match self.store.put_settings(tenant_id, value, self.clock.now()).await? {
            Some(_) => Ok(next),
            None => Err(SettingsChangeError::NoTenant),
        }
    }
}
