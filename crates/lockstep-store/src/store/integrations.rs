//! A tenant's integrations: connections to third parties, kept as opaque specs.

use async_trait::async_trait;

use crate::{Integration, NewIntegration, StoreResult, Timestamp};

/// Integrations, and the version that tells a cached copy it is stale.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// `Conflict` when the name is taken in the tenant.
    async fn create_integration(
        &self,
        tenant_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Integration>;
    async fn get_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<Option<Integration>>;
    /// All of a tenant's integrations, oldest first.
    async fn list_integrations(&self, tenant_id: i64) -> StoreResult<Vec<Integration>>;
    /// Replaces name, record type and spec; `None` when absent.
    async fn update_integration(
        &self,
        tenant_id: i64,
        integration_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>>;
    /// Deletes the integration and its sync states; false when absent.
    async fn delete_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<bool>;
    /// The version of a tenant's integrations: every create, update and
    /// delete of one of them moves it on, in the same transaction. Lets a
    /// caller keep the integrations in memory between writes and still
    /// never plan a write with ones that have changed (0 for a tenant that
    /// never had any, or does not exist).
    async fn integrations_version(&self, tenant_id: i64) -> StoreResult<i64>;
}
