//! Sync Overviews (saved previews of a full sync) and Sync Now runs (the
//! full sync applied, with its log).

use async_trait::async_trait;

use crate::{
    ChangeAction, LogOutcome, NewJob, NewNotification, Overview, OverviewChange, OverviewStatus, OverviewSummary,
    RunClaim, StoreResult, SyncLogEntry, SyncRun, SyncRunResults, SyncRunStart, SyncRunStatus, Timestamp,
};

/// Overviews and their changes.
///
/// Every method is scoped by tenant: another tenant's overview is absent.
/// Whether an overview is valid is the app's to decide when it reads one,
/// from [`Overview::superseded_by`] and `created_at`.
#[async_trait]
pub trait OverviewStore: Send + Sync {
    /// Creates a `running` overview of the integration and enqueues `job`
    /// with the overview as its subject, in one transaction. `None` when
    /// the tenant has no such integration. The new overview supersedes
    /// every older one of the integration from this moment.
    async fn create_overview(
        &self,
        tenant_id: i64,
        integration_id: i64,
        created_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>>;

    async fn get_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>>;

    /// The tenant's overviews with these ids (absent ones left out), in no
    /// particular order.
    async fn overviews_by_ids(&self, tenant_id: i64, overview_ids: &[i64]) -> StoreResult<Vec<Overview>>;

    /// An integration's overviews, newest first, before the cursor
    /// `before_id`. `superseded_by` is set as `get_overview` sets it.
    async fn list_overviews(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Overview>>;

    /// Adds changes to a running overview, one transaction. A `seq` the
    /// overview holds already is skipped. False, and nothing stored, when
    /// the overview is not `running`.
    async fn add_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        changes: Vec<OverviewChange>,
    ) -> StoreResult<bool>;

    /// A page of an overview's changes (of one action, when given), in
    /// `seq` order after `after_seq`.
    async fn list_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        action: Option<ChangeAction>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<OverviewChange>>;

    /// The highest `seq` an overview holds (0 when none): where a resumed
    /// run goes on.
    async fn last_overview_seq(&self, tenant_id: i64, overview_id: i64) -> StoreResult<i64>;

    /// Marks a running overview as moved to the background: the request
    /// that started it stopped waiting. False when it is not running (it
    /// ended first: the request can answer with the result).
    async fn background_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<bool>;

    /// Ends a running overview (`Ready` or `Failed`) with its summary and
    /// error, at `now`. In the same transaction, creates `notification`
    /// (with its email job) if, and only if, the overview is backgrounded
    /// at that moment. `None` when the overview is absent or not running.
    // Every argument is one column of the end, written together.
    #[allow(clippy::too_many_arguments)]
    async fn finish_overview(
        &self,
        tenant_id: i64,
        overview_id: i64,
        status: OverviewStatus,
        summary: OverviewSummary,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>>;
}

/// Sync Now runs, their logs, and the sync states they claim.
///
/// Every method is scoped by tenant: another tenant's run is absent.
#[async_trait]
pub trait SyncRunStore: Send + Sync {
    /// Creates a `running` run of the integration and enqueues `job` with
    /// the run as its subject, in one transaction, unless another run of
    /// the integration is running (then nothing is written). `None` when
    /// the tenant has no such integration.
    async fn create_sync_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        started_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRunStart>>;

    async fn get_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>>;

    /// An integration's runs, newest first, before the cursor `before_id`.
    async fn list_sync_runs(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncRun>>;

    /// Claims the sync states of these records in the integration for a
    /// run, one transaction, one answer per record id in the order given:
    /// a state that is `sync_pending`, `synced`, `sync_failed` or `syncing`
    /// with its lease passed becomes `syncing` (its claim one higher, as a
    /// write-sync claim makes it; attempts 1, since the run's push is a new
    /// sync; `due_at` = `lease_until`); a record with no state gets one,
    /// `syncing`, claim 1, attempts 1. A deleted record is claimed too (its
    /// deactivation is pushed). A record of another tenant or of another
    /// type than the integration's is `Missing`, and so is every record
    /// when the tenant has no such integration.
    async fn claim_syncs_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<RunClaim>>;

    /// Stores a batch of a running run's results in one transaction: the
    /// fenced sync-state finishes (as
    /// [`SyncQueue::finish_syncs`](crate::SyncQueue::finish_syncs) applies
    /// them; a finish whose claim is stale is skipped, not an error), the
    /// log entries and the counts added to the run's. Returns, per finish,
    /// whether it applied. Nothing is stored when the run is not running
    /// (then every finish answers false).
    async fn record_sync_run_results(
        &self,
        tenant_id: i64,
        run_id: i64,
        results: SyncRunResults,
    ) -> StoreResult<Vec<bool>>;

    /// A page of a run's log (of one outcome, when given), in `seq` order
    /// after `after_seq`.
    async fn list_sync_run_log(
        &self,
        tenant_id: i64,
        run_id: i64,
        outcome: Option<LogOutcome>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncLogEntry>>;

    /// Marks a running run as moved to the background; false when it is
    /// not running.
    async fn background_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<bool>;

    /// Ends a running run with its final status and error, at `now`. In the
    /// same transaction, creates `notification` (with its email job) if,
    /// and only if, the run is backgrounded at that moment. `None` when the
    /// run is absent or not running.
    async fn finish_sync_run(
        &self,
        tenant_id: i64,
        run_id: i64,
        status: SyncRunStatus,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRun>>;
}
