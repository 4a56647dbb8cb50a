//! Placeholder: [`SyncRunStore`] is not implemented yet on this backend.

#![allow(unused_variables)]

use async_trait::async_trait;
use lockstep_store::*;

use crate::SqliteStore;

#[async_trait]
impl SyncRunStore for SqliteStore {
    async fn create_sync_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        started_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRunStart>> { Err(StoreError::Database("not implemented".into())) }
    async fn get_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<Option<SyncRun>> { Err(StoreError::Database("not implemented".into())) }
    async fn list_sync_runs(
        &self,
        tenant_id: i64,
        integration_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncRun>> { Err(StoreError::Database("not implemented".into())) }
    async fn claim_syncs_for_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        record_ids: &[i64],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<RunClaim>> { Err(StoreError::Database("not implemented".into())) }
    async fn record_sync_run_results(
        &self,
        tenant_id: i64,
        run_id: i64,
        results: SyncRunResults,
    ) -> StoreResult<Vec<bool>> { Err(StoreError::Database("not implemented".into())) }
    async fn list_sync_run_log(
        &self,
        tenant_id: i64,
        run_id: i64,
        outcome: Option<LogOutcome>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<SyncLogEntry>> { Err(StoreError::Database("not implemented".into())) }
    async fn background_sync_run(&self, tenant_id: i64, run_id: i64) -> StoreResult<bool> { Err(StoreError::Database("not implemented".into())) }
    async fn finish_sync_run(
        &self,
        tenant_id: i64,
        run_id: i64,
        status: SyncRunStatus,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<SyncRun>> { Err(StoreError::Database("not implemented".into())) }
}
