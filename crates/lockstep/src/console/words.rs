//! The words and marks the console shows for statuses, actions and
//! outcomes: the seeds' words ("Sync pending", "Syncing", "Synced", "Sync
//! failed"), each with a mark and a CSS class, so that a status is never
//! told by colour alone.

use lockstep_store::{ChangeAction, LogOutcome, OverviewStatus, SyncRunStatus, SyncStatus};

/// How a status shows: its words, a mark beside them, and its CSS class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub label: &'static str,
    pub mark: &'static str,
    pub class: &'static str,
}

/// A record's sync status in one integration, in the seeds' words.
pub fn sync_status(status: SyncStatus) -> Shown {
    match status {
        SyncStatus::Failed => Shown { label: "Sync failed", mark: "✕", class: "status-failed" },
        SyncStatus::Syncing => Shown { label: "Syncing", mark: "↻", class: "status-syncing" },
        SyncStatus::Pending => Shown { label: "Sync pending", mark: "…", class: "status-pending" },
        SyncStatus::Synced => Shown { label: "Synced", mark: "✓", class: "status-synced" },
    }
}

/// An overview's status.
pub fn overview_status(status: OverviewStatus) -> Shown {
    match status {
        OverviewStatus::Running => Shown { label: "Running", mark: "↻", class: "status-syncing" },
        OverviewStatus::Ready => Shown { label: "Ready", mark: "✓", class: "status-synced" },
        OverviewStatus::Failed => Shown { label: "Failed", mark: "✕", class: "status-failed" },
    }
}

/// A Sync Now run's status.
pub fn run_status(status: SyncRunStatus) -> Shown {
    match status {
        SyncRunStatus::Running => Shown { label: "Running", mark: "↻", class: "status-syncing" },
        SyncRunStatus::Succeeded => Shown { label: "Succeeded", mark: "✓", class: "status-synced" },
        SyncRunStatus::PartiallyFailed => Shown { label: "Partially failed", mark: "!", class: "status-failed" },
        SyncRunStatus::Failed => Shown { label: "Failed", mark: "✕", class: "status-failed" },
    }
}

/// An overview change's action.
pub fn action(action: ChangeAction) -> &'static str {
    match action {
        ChangeAction::Create => "Create",
        ChangeAction::Update => "Update",
        ChangeAction::Deactivate => "Deactivate",
        ChangeAction::Error => "Error",
    }
}

/// A log entry's outcome.
pub fn outcome(outcome: LogOutcome) -> Shown {
    match outcome {
        LogOutcome::Succeeded => Shown { label: "Succeeded", mark: "✓", class: "status-synced" },
        LogOutcome::Failed => Shown { label: "Failed", mark: "✕", class: "status-failed" },
    }
}

/// The navigation's name for the records of a type: "Employees" for
/// `employee`, otherwise the type itself ("contractor records").
pub fn records_label(record_type: &str) -> String {
    match record_type {
        "employee" => "Employees".to_owned(),
        other => format!("{} records", capitalised(other)),
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}
