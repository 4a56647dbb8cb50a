//! Whether a Sync Overview (and a notification about one) may still be
//! shown as current. Decided when read, never stored as a flag: an overview
//! is valid only while it is the newest overview of its integration,
//! whoever started the newer one, and while it is younger than the
//! tenant's `overview_validity_seconds`. A Sync Log never expires, so a
//! notification about a sync run is always valid.

use chrono::Duration;
use lockstep_store::{Overview, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

/// Why an overview is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// A newer overview of the same integration was started, by anyone.
    Superseded,
    /// It is older than the tenant's validity period.
    Expired,
    /// Its integration has been deleted.
    IntegrationDeleted,
}

impl InvalidReason {
    /// What an admin reads, on the page a stale link opens.
    pub fn explanation(self) -> &'static str {
        match self {
            InvalidReason::Superseded => "A newer Sync Overview of this integration has been run since.",
            InvalidReason::Expired => "It is older than the tenant's Sync Overview validity period.",
            InvalidReason::IntegrationDeleted => "Its integration has been deleted.",
        }
    }
}

/// An overview's validity at `now`: `None` when valid, else why not.
pub fn overview_invalid_reason(overview: &Overview, validity: Duration, now: Timestamp) -> Option<InvalidReason> {
    if !overview.integration_exists {
        Some(InvalidReason::IntegrationDeleted)
    } else if overview.superseded_by.is_some() {
        Some(InvalidReason::Superseded)
    } else if now - overview.created_at >= validity {
        Some(InvalidReason::Expired)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_store::{OverviewStatus, OverviewSummary};

    fn overview(created_at: Timestamp) -> Overview {
        Overview {
            id: 1,
            tenant_id: 1,
            integration_id: 1,
            created_by: 1,
            created_at,
            finished_at: None,
            status: OverviewStatus::Ready,
            error: None,
            summary: OverviewSummary::default(),
            backgrounded: false,
            superseded_by: None,
            integration_exists: true,
        }
    }

    #[test]
    fn an_overview_is_valid_until_superseded_or_expired() {
        let t0 = chrono::Utc::now();
        let week = Duration::days(7);
        let fresh = overview(t0);
        assert_eq!(overview_invalid_reason(&fresh, week, t0 + Duration::days(6)), None);
        assert_eq!(overview_invalid_reason(&fresh, week, t0 + week), Some(InvalidReason::Expired));
        let superseded = Overview { superseded_by: Some(2), ..fresh.clone() };
        assert_eq!(overview_invalid_reason(&superseded, week, t0), Some(InvalidReason::Superseded));
        let orphan = Overview { integration_exists: false, ..fresh };
        assert_eq!(overview_invalid_reason(&orphan, week, t0), Some(InvalidReason::IntegrationDeleted));
    }
}
