//! Who hears that background work ended, and how: the notification an
//! operation's end creates, following the tenant's settings. In the
//! platform when `in_app` is on; by email when `email` is on — after
//! `email_delay_seconds`, and only if the notification is still unseen
//! then (at once when it is not shown in the platform). The email job is
//! enqueued in the same transaction as the notification.

use chrono::Duration;
use lockstep_store::{NewJob, NewNotification, TargetType, Timestamp};

use crate::domain::settings::TenantSettings;

/// The job kind that sends a notification's email.
pub const EMAIL_JOB: &str = "notification_email";

/// What a notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    SyncOverviewReady,
    SyncOverviewFailed,
    SyncComplete,
    SyncRunFailed,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::SyncOverviewReady => "sync_overview_ready",
            NotificationKind::SyncOverviewFailed => "sync_overview_failed",
            NotificationKind::SyncComplete => "sync_complete",
            NotificationKind::SyncRunFailed => "sync_run_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sync_overview_ready" => NotificationKind::SyncOverviewReady,
            "sync_overview_failed" => NotificationKind::SyncOverviewFailed,
            "sync_complete" => NotificationKind::SyncComplete,
            "sync_run_failed" => NotificationKind::SyncRunFailed,
            _ => return None,
        })
    }

    /// What the notification is about.
    pub fn target_type(self) -> TargetType {
        match self {
            NotificationKind::SyncOverviewReady | NotificationKind::SyncOverviewFailed => TargetType::Overview,
            NotificationKind::SyncComplete | NotificationKind::SyncRunFailed => TargetType::SyncRun,
        }
    }
}

/// The notification for `admin_id` about `target_id`, with its email job,
/// as the tenant's settings want it; `None` when the tenant notifies on no
/// channel.
pub fn notification_for(
    settings: &TenantSettings,
    tenant_id: i64,
    admin_id: i64,
    kind: NotificationKind,
    target_id: i64,
    now: Timestamp,
) -> Option<NewNotification> {
    let (in_app, email) = (settings.in_app(), settings.email());
    if !in_app && !email {
        return None;
    }
    let email_job = email.then(|| {
        let delay = if in_app { Duration::seconds(i64::from(settings.email_delay_seconds)) } else { Duration::zero() };
        NewJob { max_attempts: 8, ..NewJob::new(EMAIL_JOB, Some(tenant_id), now + delay) }
    });
    Some(NewNotification {
        admin_id,
        kind: kind.as_str().to_owned(),
        target_type: kind.target_type(),
        target_id,
        in_app,
        email_job,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::Channel;

    #[test]
    fn the_email_waits_for_the_delay_only_when_the_platform_shows_the_notification() {
        let now = chrono::Utc::now();
        let both = TenantSettings::default();
        let n = notification_for(&both, 1, 7, NotificationKind::SyncComplete, 3, now).unwrap();
        assert!(n.in_app);
        assert_eq!(n.email_job.unwrap().due_at, now + Duration::seconds(900));
        let email_only = TenantSettings { notification_channels: vec![Channel::Email], ..both.clone() };
        let n = notification_for(&email_only, 1, 7, NotificationKind::SyncOverviewReady, 3, now).unwrap();
        assert!(!n.in_app);
        assert_eq!(n.email_job.unwrap().due_at, now);
        let in_app_only = TenantSettings { notification_channels: vec![Channel::InApp], ..both.clone() };
        assert!(notification_for(&in_app_only, 1, 7, NotificationKind::SyncComplete, 3, now)
            .unwrap()
            .email_job
            .is_none());
        let none = TenantSettings { notification_channels: vec![], ..both };
        assert!(notification_for(&none, 1, 7, NotificationKind::SyncComplete, 3, now).is_none());
    }
}
