//! The sync states as a queue of due pushes: claims, fenced finishes, retries.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::{ClaimedSync, StoreResult, SyncFinish, SyncStatus, Timestamp};

/// The debounced queue the write-sync workers take their work from.
#[async_trait]
pub trait SyncQueue: Send + Sync {
    /// Signalled after a commit that may have created due work (a new
    /// pending state, a retry), in this process and — on PostgreSQL — in
    /// every process on the same database. Workers wait on it instead of
    /// polling.
    fn work_signal(&self) -> Arc<Notify>;

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
    /// Applies terminal (or retry) writes, each as
    /// [`finish_rules::finished_state`](crate::finish_rules::finished_state)
    /// says. Each is fenced: it applies only if the state is still
    /// `syncing` with the same `claim`. Returns, per finish, whether it
    /// applied. All or nothing: when the backend refuses one finish, none
    /// applies and the error is returned (the caller may then finish them
    /// one by one).
    async fn finish_syncs(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>>;
    /// When the scheduler should next claim: never later than the earliest
    /// `due_at` among pending and syncing states. A state debounced since it
    /// was queued may make this earlier than its due time; the claim at that
    /// time finds it not yet due, and afterwards this is its due time. (The
    /// stores keep a wake-up time that a debounce does not move, so that a
    /// debounce writes no index.)
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;
    /// How many sync states are in each status, across tenants (for
    /// metrics). Read from counts the store keeps as statuses change, in
    /// the same transactions, not from a scan of the states: always equal
    /// to a full count of what is committed, at a cost that does not grow
    /// with the number of states.
    async fn sync_status_counts(&self) -> StoreResult<Vec<(SyncStatus, i64)>>;
    /// How many sync states of each of the tenant's integrations are in
    /// each status, as `(integration_id, status, count)`, leaving out
    /// zeros. A deleted record's state counts (its deactivation syncs).
    /// For the console's list of integrations: a count over the tenant's
    /// states, not a kept counter.
    async fn integration_status_counts(&self, tenant_id: i64) -> StoreResult<Vec<(i64, SyncStatus, i64)>>;
}
