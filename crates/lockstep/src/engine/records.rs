//! Record writes and the sync view, shared by the API, the demo and the
//! benchmarks.
//!
//! A write loads the tenant's integrations for the record type, and the store
//! applies the record and the sync states the planner decides in one
//! transaction: either both are durable or neither is.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lockstep_store::{Integration, Record, RecordWrite, RecordWritten, StoreError, SyncError, SyncState, SyncStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::Engine;
use crate::domain::badge::badge;
use crate::domain::integration::IntegrationRules;
use crate::domain::planner::RecordPlanner;

/// The parsed integrations of a tenant for one record type. A stored spec
/// the code cannot parse is skipped with a warning rather than blocking
/// every write of the tenant.
pub async fn integrations_for(
    engine: &Engine,
    tenant_id: i64,
    record_type: &str,
) -> Result<Vec<IntegrationRules>, StoreError> {
    let all = engine.store.list_integrations(tenant_id).await?;
    Ok(parse_integrations(all.iter().filter(|i| i.record_type == record_type)))
}

fn parse_integrations<'a>(stored: impl Iterator<Item = &'a Integration>) -> Vec<IntegrationRules> {
    stored
        .filter_map(|i| match IntegrationRules::from_stored(i) {
            Ok(rules) => Some(rules),
            Err(error) => {
                tracing::warn!(integration_id = i.id, %error, "skipping an integration whose spec cannot be read");
                None
            }
        })
        .collect()
}

/// What a committed write did, with the integrations it was planned against
/// (so the caller can show the sync view without reading again).
#[derive(Debug, Clone)]
pub struct Committed {
    /// One result per write, in order.
    pub written: Vec<RecordWritten>,
    pub integrations: Arc<Vec<IntegrationRules>>,
}

impl Committed {
    /// The sync view of the record one write left behind.
    pub fn view_of(&self, written: &RecordWritten) -> SyncView {
        let mut views = sync_views(std::slice::from_ref(&written.record), &written.states, &self.integrations);
        views.pop().expect("one view per record")
    }
}

/// Writes records of one type and the sync states they imply, in one
/// transaction, shared with other small writes of the tenant that arrive at
/// the same time (see [`crate::engine::group_commit`]).
pub async fn write_records(
    engine: &Engine,
    tenant_id: i64,
    record_type: &str,
    writes: Vec<RecordWrite>,
) -> Result<Committed, StoreError> {
    engine.group_commit.write(engine, tenant_id, record_type, writes).await
}

/// Writes records in a transaction of their own, planned against the
/// tenant's integrations as they are now.
pub(crate) async fn commit_now(
    engine: &Engine,
    tenant_id: i64,
    record_type: &str,
    writes: Vec<RecordWrite>,
) -> Result<Committed, StoreError> {
    // The integrations come from memory; a write planned with ones that have
    // changed since is refused whole by the store, and planned again with
    // what it reads then (see `integrations_cache`). A tenant whose
    // integrations change faster than a write commits is refused in the end.
    let mut attempt = 1;
    loop {
        let held = engine.integrations.get(engine, tenant_id, record_type).await?;
        let now = engine.clock.now();
        let planner = RecordPlanner { now, integrations: &held.rules, integrations_version: Some(held.version) };
        match engine.store.write_records(tenant_id, record_type, &writes, &planner, now).await {
            Ok(written) => {
                engine.metrics.record_writes.inc_by(written.len() as u64);
                engine.metrics.write_transactions.inc();
                return Ok(Committed { written, integrations: held.rules });
            }
            Err(StoreError::IntegrationsChanged { .. }) if attempt < PLAN_ATTEMPTS => {
                tracing::debug!(tenant_id, attempt, "the tenant's integrations changed; planning the write again");
                engine.integrations.forget(tenant_id);
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// How often a write is planned before a change of the integrations under
/// it is reported instead.
const PLAN_ATTEMPTS: u32 = 3;

/// A record's sync engine in one integration, as the record page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationSync {
    pub integration_id: i64,
    pub name: String,
    /// `sync_pending`, `syncing`, `synced` or `sync_failed`.
    #[schema(value_type = String)]
    pub status: SyncStatus,
    /// When a pending sync will start.
    pub sync_starts_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Attempts made by the current (or last) sync.
    pub attempts: i32,
    /// The third party's errors (on `sync_failed`; on `syncing`, the last
    /// transient error that is being retried).
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<SyncError>,
}

/// One entry of the status badge.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadgeEntryView {
    #[schema(value_type = String)]
    pub status: SyncStatus,
    pub integration_ids: Vec<i64>,
}

/// The `sync` object of a record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncView {
    /// The statuses present, most important first.
    pub badge: Vec<BadgeEntryView>,
    pub integrations: Vec<IntegrationSync>,
    /// Record field → the integrations that sync it.
    pub fields: BTreeMap<String, Vec<i64>>,
}

/// Builds the sync view of each record from its states and the integrations.
pub fn sync_views(records: &[Record], states: &[SyncState], integrations: &[IntegrationRules]) -> Vec<SyncView> {
    records
        .iter()
        .map(|record| {
            let mine: Vec<&SyncState> = states.iter().filter(|s| s.record_id == record.id).collect();
            let integrations_view: Vec<IntegrationSync> = integrations
                .iter()
                .filter_map(|rules| {
                    let s = mine.iter().find(|s| s.integration_id == rules.id)?;
                    Some(IntegrationSync {
                        integration_id: rules.id,
                        name: rules.name.clone(),
                        status: s.status,
                        sync_starts_at: (s.status == SyncStatus::Pending).then_some(s.due_at).flatten(),
                        last_synced_at: s.last_synced_at,
                        attempts: s.attempts,
                        errors: match s.status {
                            SyncStatus::Failed | SyncStatus::Syncing => s.errors.clone(),
                            _ => Vec::new(),
                        },
                    })
                })
                .collect();
            let badge = badge(integrations_view.iter().map(|i| (i.integration_id, i.status)))
                .into_iter()
                .map(|e| BadgeEntryView { status: e.status, integration_ids: e.integration_ids })
                .collect();
            let mut fields: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for rules in integrations.iter().filter(|r| r.eligibility.admits(&record.fields)) {
                for mapped in &rules.mapping.fields {
                    fields.entry(mapped.source.as_str().to_owned()).or_default().push(rules.id);
                }
            }
            SyncView { badge, integrations: integrations_view, fields }
        })
        .collect()
}

/// The sync views of records of one type, loading what they need.
pub async fn load_sync_views(
    engine: &Engine,
    tenant_id: i64,
    record_type: &str,
    records: &[Record],
) -> Result<Vec<SyncView>, StoreError> {
    let integrations = integrations_for(engine, tenant_id, record_type).await?;
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let states = engine.store.sync_states_for_records(tenant_id, &ids).await?;
    Ok(sync_views(records, &states, &integrations))
}
