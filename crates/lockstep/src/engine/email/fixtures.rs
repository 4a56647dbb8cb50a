//! Fixtures the email's and the link page's tests share: an overview and
//! a sync run as the store would hand them back.

use chrono::Duration;
use lockstep_store::{Overview, OverviewStatus, OverviewSummary, SyncRun, SyncRunCounts, SyncRunStatus, Timestamp};

pub fn t0() -> Timestamp {
    "2026-11-02T09:30:00Z".parse().unwrap()
}

pub fn overview() -> Overview {
    Overview {
        id: 5,
        tenant_id: 3,
        integration_id: 9,
        created_by: 7,
        created_at: t0(),
        finished_at: Some(t0() + Duration::minutes(2)),
        status: OverviewStatus::Ready,
        error: None,
        summary: OverviewSummary { create: 12, update: 3, deactivate: 1, error: 2, unchanged: 40, unmanaged: 4 },
        backgrounded: true,
        superseded_by: None,
        integration_exists: true,
    }
}

pub fn run(status: SyncRunStatus, error: Option<&str>) -> SyncRun {
    SyncRun {
        id: 8,
        tenant_id: 3,
        integration_id: 9,
        overview_id: None,
        started_by: 7,
        started_at: t0(),
        finished_at: Some(t0() + Duration::minutes(3)),
        status,
        error: error.map(str::to_owned),
        counts: SyncRunCounts { created: 11, updated: 3, deactivated: 1, unchanged: 40, failed: 2 },
        backgrounded: true,
    }
}
