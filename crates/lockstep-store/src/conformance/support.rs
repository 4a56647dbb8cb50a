//! Fixtures the cases share: fixed times, tenants, integrations, short
//! constructors for writes and finishes, and a [`TestPlanner`].
//!
//! The real planner lives in the app crate, which a store crate cannot depend
//! on; [`TestPlanner`] is a stand-in with the same shape of answers: it diffs
//! top-level fields, plans nothing for a write that changes nothing, marks a
//! syncing state as changed during its sync, and otherwise makes every
//! configured integration pending at one fixed due time.

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};

use crate::{
    Admin, ClaimedSync, Job, JobStatus, NewAdmin, NewIntegration, NewToken, Notification, PlannedSync, PlannedWrite,
    Record, RecordWrite, RecordWritten, Store, SyncFinish, SyncOutcome, SyncPlanner, SyncState, SyncStatus, TargetType,
    Tenant, Timestamp,
};

/// The record type every case writes, unless it tests types apart.
pub const EMPLOYEE: &str = "employee";

/// A fixed instant `secs` seconds after the suite's epoch (whole seconds, so
/// every backend stores it exactly: storage keeps milliseconds).
pub fn at(secs: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A stand-in for a token's SHA-256: 64 lowercase hex characters derived from `seed`.
pub fn token_hash(seed: &str) -> String {
    let hex: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0>64}")
}

/// A token whose hash is [`token_hash`]`(seed)`, with no label and no expiry.
pub fn new_token(seed: &str) -> NewToken {
    NewToken {
        token_hash: token_hash(seed),
        prefix: format!("lst_{}", &token_hash(seed)[58..]),
        label: None,
        expires_at: None,
    }
}

/// An admin whose first token is [`new_token`]`(email)`.
pub fn new_admin(email: &str) -> NewAdmin {
    NewAdmin { email: email.to_string(), name: format!("Admin {email}"), token: new_token(email) }
}

/// Creates a tenant named `name` with the admin `admin@<name>`.
pub async fn tenant(store: &Arc<dyn Store>, name: &str) -> (Tenant, Admin) {
    store.create_tenant(name, new_admin(&format!("admin@{name}")), at(0)).await.expect("create_tenant")
}

pub fn new_integration(name: &str) -> NewIntegration {
    NewIntegration {
        name: name.to_string(),
        record_type: EMPLOYEE.to_string(),
        spec: serde_json::json!({ "connector": "sandbox", "mapping": { "email": "userName" } }),
    }
}

/// Creates an integration of employees and returns its id.
pub async fn integration(store: &Arc<dyn Store>, tenant_id: i64, name: &str) -> i64 {
    store.create_integration(tenant_id, new_integration(name), at(0)).await.expect("create_integration").id
}

pub fn put(external_id: &str, fields: Value) -> RecordWrite {
    RecordWrite { external_id: external_id.to_string(), fields: Some(fields), expected_version: None }
}

pub fn put_expecting(external_id: &str, fields: Value, expected_version: i64) -> RecordWrite {
    RecordWrite { expected_version: Some(expected_version), ..put(external_id, fields) }
}

pub fn delete(external_id: &str) -> RecordWrite {
    RecordWrite { external_id: external_id.to_string(), fields: None, expected_version: None }
}

/// Writes employees and unwraps. Every case that writes also checks that the
/// states each write reports are the states a read returns afterwards (for
/// the last write of each record in the batch).
pub async fn write(
    store: &Arc<dyn Store>,
    tenant_id: i64,
    writes: Vec<RecordWrite>,
    planner: &TestPlanner,
    now: Timestamp,
) -> Vec<RecordWritten> {
    let written = store.write_records(tenant_id, EMPLOYEE, &writes, planner, now).await.expect("write_records");
    let mut last = std::collections::BTreeMap::new();
    for w in &written {
        last.insert(w.record.id, &w.states);
    }
    for (record_id, reported) in last {
        assert_eq!(
            &states(store, tenant_id, record_id).await,
            reported,
            "the states a write reports are the states it stored (record {record_id})"
        );
    }
    written
}

/// Writes one employee and returns its stored record.
pub async fn write_one(
    store: &Arc<dyn Store>,
    tenant_id: i64,
    write_: RecordWrite,
    planner: &TestPlanner,
    now: Timestamp,
) -> Record {
    write(store, tenant_id, vec![write_], planner, now).await.remove(0).record
}

/// A record's sync states, by integration id.
pub async fn states(store: &Arc<dyn Store>, tenant_id: i64, record_id: i64) -> Vec<SyncState> {
    let mut states = store.sync_states_for_records(tenant_id, &[record_id]).await.expect("sync_states_for_records");
    states.sort_by_key(|s| s.integration_id);
    states
}

/// The one sync state of a record in an integration; panics when absent.
pub async fn state(store: &Arc<dyn Store>, tenant_id: i64, record_id: i64, integration_id: i64) -> SyncState {
    states(store, tenant_id, record_id)
        .await
        .into_iter()
        .find(|s| s.integration_id == integration_id)
        .unwrap_or_else(|| panic!("no sync state for record {record_id} in {integration_id}"))
}

/// The one job of `kind` on `subject_id`, checked to be as a subject's job
/// is enqueued: queued for `tenant_id`, due at `due_at`, not yet claimed,
/// holding `"{kind}:{subject_id}"`. Panics unless there is exactly one.
pub async fn one_queued_job(
    store: &Arc<dyn Store>,
    kind: &str,
    tenant_id: i64,
    subject_id: i64,
    due_at: Timestamp,
) -> Job {
    let mut jobs = store.jobs_for_subject(kind, subject_id).await.expect("jobs_for_subject");
    assert_eq!(jobs.len(), 1, "one {kind} job on {subject_id}: {jobs:?}");
    let job = jobs.remove(0);
    assert_eq!((job.kind.as_str(), job.tenant_id, job.subject_id), (kind, Some(tenant_id), Some(subject_id)));
    assert_eq!(job.unique_key, Some(format!("{kind}:{subject_id}")));
    assert_eq!((job.status, job.due_at, job.attempts), (JobStatus::Queued, Some(due_at), 0));
    job
}

/// An admin's in-platform notifications about one overview or run, newest first.
pub async fn notifications_about(
    store: &Arc<dyn Store>,
    tenant_id: i64,
    admin_id: i64,
    target_type: TargetType,
    target_id: i64,
) -> Vec<Notification> {
    let all = store.list_notifications(tenant_id, admin_id, None, 1000).await.expect("list_notifications");
    all.into_iter().filter(|n| (n.target_type, n.target_id) == (target_type, target_id)).collect()
}

/// Claims everything due at `now`, with a lease until `lease_until`.
pub async fn claim_all(store: &Arc<dyn Store>, now: Timestamp, lease_until: Timestamp) -> Vec<ClaimedSync> {
    store.claim_due_syncs(now, lease_until, 10_000).await.expect("claim_due_syncs")
}

/// The finish of a claimed sync at `now`, re-pending (if needed) at `now + 300 s`.
pub fn finish(claimed: &SyncState, outcome: SyncOutcome, now: Timestamp) -> SyncFinish {
    SyncFinish {
        record_id: claimed.record_id,
        integration_id: claimed.integration_id,
        claim: claimed.claim,
        outcome,
        now,
        repending_due_at: now + chrono::Duration::seconds(300),
    }
}

/// Applies one finish and returns whether it applied.
pub async fn finish_one(store: &Arc<dyn Store>, finish: SyncFinish) -> bool {
    let applied = store.finish_syncs(vec![finish]).await.expect("finish_syncs");
    assert_eq!(applied.len(), 1, "finish_syncs returns one answer per finish");
    applied[0]
}

pub fn error(field: &str, code: &str, message: &str) -> crate::SyncError {
    crate::SyncError { field: Some(field.to_string()), code: code.to_string(), message: message.to_string() }
}

/// What the planner was asked, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannerCall {
    pub previous: Option<Record>,
    pub next: Option<Value>,
    pub states: Vec<SyncState>,
}

/// A planner that makes every configured integration pending at one due time
/// (see the module docs) and records what it was asked.
pub struct TestPlanner {
    integrations: Vec<i64>,
    now: Timestamp,
    due_at: Timestamp,
    even_without_changes: bool,
    integrations_version: Option<i64>,
    calls: Mutex<Vec<PlannerCall>>,
}

impl TestPlanner {
    /// Plans `sync_pending` due at `due_at` for each of `integrations` (or
    /// `ChangedDuringSync` when that state is syncing), on every write that
    /// changes a field. A new quiet period starts at `now`; an ongoing one
    /// keeps its `pending_since`.
    pub fn pending(integrations: &[i64], now: Timestamp, due_at: Timestamp) -> Self {
        TestPlanner {
            integrations: integrations.to_vec(),
            now,
            due_at,
            even_without_changes: false,
            integrations_version: None,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Plans no syncs at all; only diffs fields.
    pub fn quiet() -> Self {
        Self::pending(&[], at(0), at(0))
    }

    /// Also plans syncs for a write that changes nothing — a planner bug the
    /// store must not act on, since a no-op write stores nothing.
    pub fn even_without_changes(mut self) -> Self {
        self.even_without_changes = true;
        self
    }

    /// Plans as if with the tenant's integrations at `version`.
    pub fn with_integrations_version(mut self, version: i64) -> Self {
        self.integrations_version = Some(version);
        self
    }

    /// Everything the planner was asked so far, in order.
    pub fn calls(&self) -> Vec<PlannerCall> {
        self.calls.lock().unwrap().clone()
    }
}

/// Top-level field names whose value differs; a deleted or absent record has no fields.
fn changed_fields(previous: Option<&Record>, next: Option<&Value>) -> Vec<String> {
    let empty = Map::new();
    let before = previous.filter(|r| r.deleted_at.is_none()).and_then(|r| r.fields.as_object()).unwrap_or(&empty);
    let after = next.and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| before.get(k) != after.get(k));
    keys
}

impl SyncPlanner for TestPlanner {
    fn plan(&self, previous: Option<&Record>, next: Option<&Value>, states: &[SyncState]) -> PlannedWrite {
        self.calls.lock().unwrap().push(PlannerCall {
            previous: previous.cloned(),
            next: next.cloned(),
            states: states.to_vec(),
        });
        let changed_fields = changed_fields(previous, next);
        // A create, delete or revive changes the record even without a field to diff.
        let same_liveness = previous.is_some_and(|p| p.deleted_at.is_none() == next.is_some());
        if changed_fields.is_empty() && same_liveness && !self.even_without_changes {
            return PlannedWrite::default();
        }
        let syncs = self
            .integrations
            .iter()
            .map(|&integration_id| {
                let state = states.iter().find(|s| s.integration_id == integration_id);
                match state {
                    Some(s) if s.status == SyncStatus::Syncing => PlannedSync::ChangedDuringSync { integration_id },
                    Some(s) if s.status == SyncStatus::Pending => PlannedSync::Pending {
                        integration_id,
                        due_at: self.due_at,
                        pending_since: s.pending_since.unwrap_or(self.now),
                    },
                    _ => PlannedSync::Pending { integration_id, due_at: self.due_at, pending_since: self.now },
                }
            })
            .collect();
        PlannedWrite { changed_fields, syncs }
    }

    fn integrations_version(&self) -> Option<i64> {
        self.integrations_version
    }
}

/// `sync_status_counts` as a map without zero counts (a backend may list a
/// status with 0 or leave it out).
pub async fn status_counts(store: &Arc<dyn Store>) -> std::collections::BTreeMap<SyncStatus, i64> {
    let counts = store.sync_status_counts().await.expect("sync_status_counts");
    let mut seen = std::collections::BTreeMap::new();
    for (status, count) in counts {
        assert!(seen.insert(status, count).is_none(), "{status:?} is listed twice");
    }
    seen.retain(|_, count| *count != 0);
    seen
}

/// A tenant with one integration and one record pending in it, due at `at(10)`.
pub async fn one_pending(store: &Arc<dyn Store>) -> (i64, i64, Record) {
    let (acme, _) = tenant(store, "acme").await;
    let okta = integration(store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let record = write_one(store, acme.id, put("e1", serde_json::json!({"n": 1})), &planner, at(1)).await;
    (acme.id, okta, record)
}
