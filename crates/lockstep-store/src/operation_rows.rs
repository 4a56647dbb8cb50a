//! The rows of the two operations an admin starts on an integration: a
//! Sync Overview (a saved preview of a full sync) and a Sync Now run (the
//! full sync applied, with its persistent log).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ClaimedSync, SyncError, SyncFinish, Timestamp};

/// Where an overview is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverviewStatus {
    Running,
    Ready,
    Failed,
}

impl OverviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OverviewStatus::Running => "running",
            OverviewStatus::Ready => "ready",
            OverviewStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => OverviewStatus::Running,
            "ready" => OverviewStatus::Ready,
            "failed" => OverviewStatus::Failed,
            _ => return None,
        })
    }
}

/// How many of each kind of change an overview found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OverviewSummary {
    pub create: i64,
    pub update: i64,
    pub deactivate: i64,
    pub error: i64,
    pub unchanged: i64,
    pub unmanaged: i64,
}

/// A Sync Overview as stored. Whether it is still valid is decided when
/// read, from `superseded_by` and `created_at`: the store keeps no flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub id: i64,
    pub tenant_id: i64,
    pub integration_id: i64,
    /// The admin who started it.
    pub created_by: i64,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: OverviewStatus,
    /// Why it failed (`status` failed).
    pub error: Option<String>,
    /// Final once `status` is ready; zero before.
    pub summary: OverviewSummary,
    /// The admin's request stopped waiting for it: its end notifies the admin.
    pub backgrounded: bool,
    /// The newest overview of the same integration, when that is another
    /// one (computed when read: a newer overview by anyone supersedes this).
    pub superseded_by: Option<i64>,
    /// False when its integration has been deleted since.
    pub integration_exists: bool,
}

/// What an overview found for one record or third-party user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Update,
    Deactivate,
    Error,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Deactivate => "deactivate",
            ChangeAction::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => ChangeAction::Create,
            "update" => ChangeAction::Update,
            "deactivate" => ChangeAction::Deactivate,
            "error" => ChangeAction::Error,
            _ => return None,
        })
    }
}

/// One change of an overview.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewChange {
    /// The change's place in its overview, given by the caller: unique per
    /// overview, increasing; pages are ordered by it. Adding a change whose
    /// `seq` the overview already holds stores nothing (a resumed run may
    /// add a page again).
    pub seq: i64,
    pub action: ChangeAction,
    /// The record's id as the client knows it.
    pub external_id: String,
    /// The third party's id of the user, when there is one.
    pub remote_id: Option<String>,
    /// What the app says about the change (attribute diffs, the error's
    /// reason…), a JSON value the store does not interpret.
    pub detail: Value,
}

/// Where a sync run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunStatus {
    Running,
    Succeeded,
    PartiallyFailed,
    Failed,
}

impl SyncRunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRunStatus::Running => "running",
            SyncRunStatus::Succeeded => "succeeded",
            SyncRunStatus::PartiallyFailed => "partially_failed",
            SyncRunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => SyncRunStatus::Running,
            "succeeded" => SyncRunStatus::Succeeded,
            "partially_failed" => SyncRunStatus::PartiallyFailed,
            "failed" => SyncRunStatus::Failed,
            _ => return None,
        })
    }
}

/// How many operations of each kind a run made (or counts to add).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncRunCounts {
    pub created: i64,
    pub updated: i64,
    pub deactivated: i64,
    pub unchanged: i64,
    pub failed: i64,
}

/// A Sync Now run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    pub id: i64,
    pub tenant_id: i64,
    pub integration_id: i64,
    /// The overview it applies, when started with one.
    pub overview_id: Option<i64>,
    /// The admin who started it.
    pub started_by: i64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: SyncRunStatus,
    /// Why the run as a whole failed (`status` failed).
    pub error: Option<String>,
    pub counts: SyncRunCounts,
    /// The admin's request stopped waiting for it: its end notifies the admin.
    pub backgrounded: bool,
}

/// The outcome of one operation of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOutcome {
    Succeeded,
    Failed,
}

impl LogOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LogOutcome::Succeeded => "succeeded",
            LogOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "succeeded" => LogOutcome::Succeeded,
            "failed" => LogOutcome::Failed,
            _ => return None,
        })
    }
}

/// One operation of a run, as its log keeps it. Entries are never changed
/// or removed.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncLogEntry {
    /// Assigned by the store, increasing within the run; pages are ordered by it.
    pub seq: i64,
    pub external_id: String,
    /// `create`, `update` or `deactivate` (never `error`: a record the
    /// mapping cannot turn into a user is logged as a failed `create` or
    /// `update`).
    pub action: ChangeAction,
    /// What was written (target attribute → value), as the app puts it.
    pub attributes: Value,
    pub outcome: LogOutcome,
    /// The third party's errors, for a failed operation.
    pub errors: Vec<SyncError>,
    pub at: Timestamp,
}

/// A log entry to add (the store assigns its `seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSyncLogEntry {
    pub external_id: String,
    pub action: ChangeAction,
    pub attributes: Value,
    pub outcome: LogOutcome,
    pub errors: Vec<SyncError>,
    pub at: Timestamp,
}

/// What creating a sync run found.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncRunStart {
    /// The run was created (and its job enqueued).
    Started(SyncRun),
    /// Another run of the integration is running; nothing was created.
    AlreadyRunning(SyncRun),
}

/// What claiming a record's sync state for a run found.
// The answers of one claim live as long as a batch of pushes and are mostly
// `Claimed`: boxing that variant would cost an allocation per record to save
// space in the rare other two.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RunClaim {
    /// The state is now `syncing` under the run's claim, the record as it is now.
    Claimed(ClaimedSync),
    /// The state is `syncing` under a live lease (a write-sync push, or a
    /// retry waiting for its time): left alone.
    Busy { record_id: i64 },
    /// No such record in the tenant (of the integration's record type), or
    /// no such integration.
    Missing { record_id: i64 },
}

/// A batch of a run's results: the sync states it finishes, the log entries
/// it adds and the counts it adds, stored in one transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncRunResults {
    pub finishes: Vec<SyncFinish>,
    pub entries: Vec<NewSyncLogEntry>,
    pub counts: SyncRunCounts,
}
