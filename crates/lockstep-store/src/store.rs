//! The [`Store`] trait: every read and write Lockstep makes.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;

use crate::{
    Admin, ClaimedSync, Integration, NewAdmin, NewIntegration, PlannedWrite, Record, RecordWrite, RecordWritten,
    StoreResult, SyncFinish, SyncState, SyncStatus, Tenant, Timestamp,
};

/// Decides, between a record write's read and its store, what the write means for
/// each integration. Implemented by the app's domain logic; pure, no I/O.
pub trait SyncPlanner: Send + Sync {
    /// `previous` is the stored record (`None` when it never existed; a
    /// deleted one is passed with `deleted_at` set), `next` the fields to
    /// store (`None` to delete) and `states` the record's sync states.
    fn plan(&self, previous: Option<&Record>, next: Option<&Value>, states: &[SyncState]) -> PlannedWrite;

    /// The version of the tenant's integrations this planner decides with
    /// ([`Store::integrations_version`]), when it holds them from an earlier
    /// read. The write then stores nothing and answers
    /// [`StoreError::IntegrationsChanged`](crate::StoreError::IntegrationsChanged)
    /// if the version has moved on. `None`: no check.
    fn integrations_version(&self) -> Option<i64> {
        None
    }
}

/// Refuses a write whose planner holds integrations older than `current`
/// (the tenant's integrations version, read in the write's transaction).
pub fn ensure_current_integrations(planner: &dyn SyncPlanner, current: i64) -> StoreResult<()> {
    match planner.integrations_version() {
        Some(planned) if planned != current => Err(crate::StoreError::IntegrationsChanged { planned, current }),
        _ => Ok(()),
    }
}

/// The storage seam. Every method is scoped by tenant where a tenant's data
/// is touched; a row of another tenant is reported as absent.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the backend's migrations; idempotent.
    async fn migrate(&self) -> StoreResult<()>;

    /// Signalled after a commit that may have created due work (a new
    /// pending state, a retry), in this process and — on PostgreSQL — in
    /// every process on the same database. Workers wait on it instead of
    /// polling.
    fn work_signal(&self) -> Arc<Notify>;

    // ---- tenants and admins -------------------------------------------

    /// Creates a tenant and its first admin in one transaction.
    async fn create_tenant(&self, name: &str, admin: NewAdmin, now: Timestamp) -> StoreResult<(Tenant, Admin)>;
    async fn get_tenant(&self, tenant_id: i64) -> StoreResult<Option<Tenant>>;
    /// Adds an admin; `Conflict` when the email is taken in the tenant.
    async fn create_admin(&self, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin>;
    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>>;
    /// Finds the admin a bearer token belongs to, by the token's hash.
    async fn admin_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Admin>>;

    // ---- integrations -------------------------------------------------

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

    // ---- records ------------------------------------------------------

    /// Writes a batch of records of one type and the sync states they imply,
    /// all in one transaction: all of it is stored, or none of it.
    ///
    /// When the planner names an integrations version that is no longer
    /// current, nothing is stored (`IntegrationsChanged`).
    ///
    /// For each write, in order, the store reads the previous record and its
    /// sync states (locked against concurrent writers and claims, or checked
    /// unchanged when the changes are stored and read again if not), asks
    /// the planner, stores the record (version + 1, unless the planner found
    /// no change) and applies the planned syncs. A later write of the same
    /// `external_id` in the batch sees the earlier one as its previous.
    /// Results come back in the order of `writes`.
    async fn write_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        writes: &[RecordWrite],
        planner: &dyn SyncPlanner,
        now: Timestamp,
    ) -> StoreResult<Vec<RecordWritten>>;
    /// A live (not deleted) record.
    async fn get_record(&self, tenant_id: i64, record_type: &str, external_id: &str) -> StoreResult<Option<Record>>;
    /// Live records of a type in id order, after the cursor `after_id`.
    async fn list_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Record>>;

    // ---- sync states --------------------------------------------------

    /// The sync states of the given records (of one tenant).
    async fn sync_states_for_records(&self, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>>;
    /// Moves `sync_failed` states of a record (one integration, or all) back
    /// to `sync_pending`, due at `due_at`. Returns how many moved.
    async fn retry_failed(
        &self,
        tenant_id: i64,
        record_id: i64,
        integration_id: Option<i64>,
        due_at: Timestamp,
    ) -> StoreResult<u64>;
    /// Claims up to `limit` due syncs, across tenants: `sync_pending` states
    /// whose `due_at` has passed, and `syncing` states whose lease (or retry
    /// time) has passed. Each claimed state becomes `syncing`, its `claim`
    /// grows by one, its attempts by one, and its `due_at` becomes
    /// `lease_until`. Concurrent claimers never get the same state.
    async fn claim_due_syncs(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedSync>>;
    /// Applies terminal (or retry) writes. Each is fenced: it applies only if
    /// the state is still `syncing` with the same `claim`. Returns, per
    /// finish, whether it applied.
    async fn finish_syncs(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>>;
    /// When the scheduler should next claim: never later than the earliest
    /// `due_at` among pending and syncing states. A state debounced since it
    /// was queued may make this earlier than its due time; the claim at that
    /// time finds it not yet due, and afterwards this is its due time. (The
    /// stores keep a wake-up time that a debounce does not move, so that a
    /// debounce writes no index.)
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;
    /// How many sync states are in each status, across tenants (for metrics).
    async fn sync_status_counts(&self) -> StoreResult<Vec<(SyncStatus, i64)>>;
}
