//! The rows a store keeps, as plain data.
//!
//! Ids are time-ordered integers assigned by the store (sequential keys
//! append to the end of their index, an order of magnitude cheaper to insert
//! than random text). The id a client gives a record is its `external_id`, a secondary
//! unique key per (tenant, record type).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A point in time, always UTC, millisecond precision in storage.
pub type Timestamp = DateTime<Utc>;

/// One customer of the platform; everything else belongs to one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub created_at: Timestamp,
}

/// An admin to create. The token is hashed by the caller; the store never sees it.
#[derive(Clone, PartialEq)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the bearer token.
    pub token_hash: String,
}

impl std::fmt::Debug for NewAdmin {
    // The hash is not the token, but it is still a credential lookup key: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdmin")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("token_hash", &"<redacted>")
            .finish()
    }
}

/// A person of a tenant who signs in and starts operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    pub id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// An integration to create or the new state of one being updated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntegration {
    pub name: String,
    pub record_type: String,
    /// The integration's configuration (connector, mapping, eligibility,
    /// timings) as the app serialises it. The store does not interpret it.
    pub spec: Value,
}

/// One connection of a tenant to one third party.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub record_type: String,
    pub spec: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An object the platform owns: a JSON object of fields with a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: i64,
    pub tenant_id: i64,
    pub record_type: String,
    pub external_id: String,
    /// Always a JSON object.
    pub fields: Value,
    /// Starts at 1 and grows by one with every write that changes something.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set when the record was deleted; a deleted record is kept so its
    /// deactivation can still be pushed, and a later PUT revives it.
    pub deleted_at: Option<Timestamp>,
}

/// One record write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub external_id: String,
    /// The complete new fields (a JSON object), or `None` to delete.
    pub fields: Option<Value>,
    /// When set, the write fails with [`crate::StoreError::VersionConflict`]
    /// unless the stored version (0 for none) equals it.
    pub expected_version: Option<i64>,
}

/// What a record write did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWritten {
    /// The record as stored after the write.
    pub record: Record,
    /// True when the record did not exist (or was deleted) before.
    pub created: bool,
    /// Field paths whose value changed; empty for a write that changed nothing
    /// (the version is then not bumped).
    pub changed_fields: Vec<String>,
    /// Integrations whose sync state the write touched.
    pub affected_integrations: Vec<i64>,
    /// The record's sync states as this write left them, by integration id:
    /// what a read right after it would return, so a caller can answer
    /// without reading again.
    pub states: Vec<SyncState>,
}

/// The state of one record in one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    #[serde(rename = "sync_pending")]
    Pending,
    #[serde(rename = "syncing")]
    Syncing,
    #[serde(rename = "synced")]
    Synced,
    #[serde(rename = "sync_failed")]
    Failed,
}

impl SyncStatus {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Pending => "sync_pending",
            SyncStatus::Syncing => "syncing",
            SyncStatus::Synced => "synced",
            SyncStatus::Failed => "sync_failed",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sync_pending" => SyncStatus::Pending,
            "syncing" => SyncStatus::Syncing,
            "synced" => SyncStatus::Synced,
            "sync_failed" => SyncStatus::Failed,
            _ => return None,
        })
    }
}

/// An error a third party reported for a sync, kept for resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    /// The record field (or third-party attribute) at fault, when known.
    pub field: Option<String>,
    /// A short machine code: the SCIM `scimType`, an HTTP status, `timeout`…
    pub code: String,
    /// What the third party said.
    pub message: String,
}

/// One record's sync state in one integration, the scheduler's durable row.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncState {
    pub record_id: i64,
    pub integration_id: i64,
    pub tenant_id: i64,
    pub status: SyncStatus,
    /// Pending: when the sync starts. Syncing: when the claim's lease expires,
    /// or when the next retry of a transient failure is due. Otherwise none.
    pub due_at: Option<Timestamp>,
    /// Pending: the first relevant change of the current quiet period, so the
    /// max wait can cap how far further changes push `due_at`.
    pub pending_since: Option<Timestamp>,
    /// Fencing token: grows with every claim; terminal writes name it.
    pub claim: i64,
    /// Attempts made by the current (or last) sync.
    pub attempts: i32,
    /// A relevant change arrived while syncing: the sync ends in a new grace period.
    pub changed_during_sync: bool,
    pub last_synced_at: Option<Timestamp>,
    /// The third party's errors of the last failed (or retried) attempt.
    pub errors: Vec<SyncError>,
    /// The third party's id for the record, once known.
    pub remote_id: Option<String>,
    pub updated_at: Timestamp,
}

impl SyncState {
    /// The state a record's first planned sync creates: pending, with no
    /// due time, quiet period, claim or attempt yet (the caller sets them).
    pub fn new(record_id: i64, integration_id: i64, tenant_id: i64, now: Timestamp) -> SyncState {
        SyncState {
            record_id,
            integration_id,
            tenant_id,
            status: SyncStatus::Pending,
            due_at: None,
            pending_since: None,
            claim: 0,
            attempts: 0,
            changed_during_sync: false,
            last_synced_at: None,
            errors: Vec::new(),
            remote_id: None,
            updated_at: now,
        }
    }
}

/// What the planner decided for one integration of one record write.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedSync {
    /// Enter or extend a quiet period: the state becomes `sync_pending`, due
    /// at `due_at`. Creates the state when the record has none yet.
    Pending { integration_id: i64, due_at: Timestamp, pending_since: Timestamp },
    /// The record is being synced: remember that a relevant change arrived, so
    /// the sync ends in a new grace period instead of losing it.
    ChangedDuringSync { integration_id: i64 },
}

impl PlannedSync {
    /// The integration the decision is about.
    pub fn integration_id(&self) -> i64 {
        match self {
            PlannedSync::Pending { integration_id, .. } | PlannedSync::ChangedDuringSync { integration_id } => {
                *integration_id
            }
        }
    }
}

/// The planner's answer for one record write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlannedWrite {
    /// Field paths whose value changed. Empty (and not a create or delete)
    /// means the write is a no-op: nothing is stored, the version stays.
    pub changed_fields: Vec<String>,
    pub syncs: Vec<PlannedSync>,
}

/// A due sync that a worker claimed, with the record as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedSync {
    /// The state after the claim: `syncing`, its `claim` the fencing token.
    pub state: SyncState,
    pub record: Record,
}

/// How a claimed sync ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// The third party holds the record's current values.
    Synced { remote_id: Option<String> },
    /// The third party refused; no retry until a new change or an explicit retry.
    Failed { errors: Vec<SyncError> },
    /// A transient failure: stay `syncing`, try again at `at`.
    Retry { at: Timestamp, errors: Vec<SyncError> },
}

/// A terminal (or retry) write for one claimed sync, fenced by its claim.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFinish {
    pub record_id: i64,
    pub integration_id: i64,
    /// Must equal the state's `claim`, or the write is refused (another
    /// worker took over after this one's lease expired).
    pub claim: i64,
    pub outcome: SyncOutcome,
    pub now: Timestamp,
    /// Where a `Synced`/`Failed` outcome goes when a relevant change arrived
    /// during the sync: `sync_pending` due at this time (now + grace).
    pub repending_due_at: Timestamp,
}
