//! Tenants, their admins, and the admins' bearer tokens.

use async_trait::async_trait;

use crate::{Admin, AdminToken, NewAdmin, NewToken, StoreResult, Tenant, Timestamp, TokenOwner};

/// Tenants, the admins who act for them, and the tokens admins sign in with.
///
/// Tokens are kept by hash. Every token call but
/// [`token_by_hash`](TenantStore::token_by_hash) is scoped by tenant:
/// another tenant's token or admin is reported as absent.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant, its first admin and that admin's token in one
    /// transaction.
    async fn create_tenant(&self, name: &str, admin: NewAdmin, now: Timestamp) -> StoreResult<(Tenant, Admin)>;
    async fn get_tenant(&self, tenant_id: i64) -> StoreResult<Option<Tenant>>;
    /// Adds an admin and its first token in one transaction; `Conflict`
    /// when the email is taken in the tenant or the token hash anywhere.
    async fn create_admin(&self, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin>;
    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>>;

    /// Adds a token for an admin of the tenant; `None` when the tenant has
    /// no such admin, `Conflict` when the hash is taken.
    async fn create_token(
        &self,
        tenant_id: i64,
        admin_id: i64,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Option<AdminToken>>;
    /// The tenant's tokens (of one admin, when given), revoked and expired
    /// ones included, oldest first.
    async fn list_tokens(&self, tenant_id: i64, admin_id: Option<i64>) -> StoreResult<Vec<AdminToken>>;
    async fn get_token(&self, tenant_id: i64, token_id: i64) -> StoreResult<Option<AdminToken>>;
    /// Marks a token revoked at `now`, unless it was revoked already (it
    /// then keeps its first `revoked_at`). Returns the token as stored;
    /// `None` when the tenant has no such token.
    async fn revoke_token(&self, tenant_id: i64, token_id: i64, now: Timestamp) -> StoreResult<Option<AdminToken>>;
    /// Finds a token, and its admin, by the token's hash: one probe of a
    /// unique index, whether or not a token has the hash, and whatever the
    /// token's state. The store writes nothing here, so authentication
    /// costs no write.
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>>;
}
