//! Placeholder: [`OverviewStore`] is not implemented yet on this backend.

#![allow(unused_variables)]

use async_trait::async_trait;
use lockstep_store::*;

use crate::PgStore;

#[async_trait]
impl OverviewStore for PgStore {
    async fn create_overview(
        &self,
        tenant_id: i64,
        integration_id: i64,
        created_by: i64,
        job: NewJob,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>> { Err(StoreError::Database("not implemented".into())) }
    async fn get_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<Option<Overview>> { Err(StoreError::Database("not implemented".into())) }
    async fn overviews_by_ids(&self, tenant_id: i64, overview_ids: &[i64]) -> StoreResult<Vec<Overview>> { Err(StoreError::Database("not implemented".into())) }
    async fn add_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        changes: Vec<OverviewChange>,
    ) -> StoreResult<bool> { Err(StoreError::Database("not implemented".into())) }
    async fn list_overview_changes(
        &self,
        tenant_id: i64,
        overview_id: i64,
        action: Option<ChangeAction>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<OverviewChange>> { Err(StoreError::Database("not implemented".into())) }
    async fn last_overview_seq(&self, tenant_id: i64, overview_id: i64) -> StoreResult<i64> { Err(StoreError::Database("not implemented".into())) }
    async fn background_overview(&self, tenant_id: i64, overview_id: i64) -> StoreResult<bool> { Err(StoreError::Database("not implemented".into())) }
    async fn finish_overview(
        &self,
        tenant_id: i64,
        overview_id: i64,
        status: OverviewStatus,
        summary: OverviewSummary,
        error: Option<String>,
        notification: Option<NewNotification>,
        now: Timestamp,
    ) -> StoreResult<Option<Overview>> { Err(StoreError::Database("not implemented".into())) }
}
