//! Tenants and their admins.

use async_trait::async_trait;

use crate::{Admin, NewAdmin, StoreResult, Tenant, Timestamp};

/// Tenants and the admins who act for them.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant and its first admin in one transaction.
    async fn create_tenant(&self, name: &str, admin: NewAdmin, now: Timestamp) -> StoreResult<(Tenant, Admin)>;
    async fn get_tenant(&self, tenant_id: i64) -> StoreResult<Option<Tenant>>;
    /// Adds an admin; `Conflict` when the email is taken in the tenant.
    async fn create_admin(&self, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin>;
    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>>;
    /// Finds the admin a bearer token belongs to, by the token's hash.
    async fn admin_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Admin>>;
}
