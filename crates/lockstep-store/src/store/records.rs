//! Versioned records, written together with the sync states they imply.

use async_trait::async_trait;
use serde_json::Value;

use crate::{PlannedWrite, Record, RecordWrite, RecordWritten, StoreResult, SyncState, Timestamp};

/// Decides, between a record write's read and its store, what the write means for
/// each integration. Implemented by the app's domain logic; pure, no I/O.
pub trait SyncPlanner: Send + Sync {
    /// `previous` is the stored record (`None` when it never existed; a
    /// deleted one is passed with `deleted_at` set), `next` the fields to
    /// store (`None` to delete) and `states` the record's sync states.
    fn plan(&self, previous: Option<&Record>, next: Option<&Value>, states: &[SyncState]) -> PlannedWrite;

    /// The version of the tenant's integrations this planner decides with
    /// ([`IntegrationStore::integrations_version`](crate::IntegrationStore::integrations_version)),
    /// when it holds them from an earlier read. The write then stores
    /// nothing and answers
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

/// Records, and the sync states a record page shows.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Writes a batch of records of one type and the sync states they imply,
    /// all in one transaction: all of it is stored, or none of it.
    ///
    /// When the planner names an integrations version that is no longer
    /// current, nothing is stored (`IntegrationsChanged`).
    ///
    /// For each write, in order, the store reads the previous record and its
    /// sync states (locked against concurrent writers and claims, or checked
    /// unchanged when the changes are stored and read again if not), asks
    /// the planner, stores the record (version + 1, unless
    /// [`write_rules::is_noop`](crate::write_rules::is_noop)) and applies the
    /// planned syncs. A later write of the same `external_id` in the batch
    /// sees the earlier one as its previous. Results come back in the order
    /// of `writes`.
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
    /// Live records of a type whose id or any field's text contains
    /// `text`, ignoring ASCII case, in id order after the cursor
    /// `after_id`: the console's search box. `text` is matched literally
    /// (`%`, `_` and `\\` are not wildcards). A scan of the type's records,
    /// so meant for people typing, not for bulk lookups.
    /// [`search_rules`](crate::search_rules) says what a field's text is
    /// and how a backend narrows the scan.
    async fn search_records(
        &self,
        tenant_id: i64,
        record_type: &str,
        text: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Record>>;
    /// The tenant's records of a type with these external ids, deleted ones
    /// included (absent ones left out), in no particular order: how an
    /// overview matches a page of third-party users to records.
    async fn records_by_external_ids(
        &self,
        tenant_id: i64,
        record_type: &str,
        external_ids: &[String],
    ) -> StoreResult<Vec<Record>>;
    /// The sync states of the given records (of one tenant).
    async fn sync_states_for_records(&self, tenant_id: i64, record_ids: &[i64]) -> StoreResult<Vec<SyncState>>;
}
