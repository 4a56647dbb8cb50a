//! The rows of notifications (in-platform messages to one admin, and the
//! email that may follow) and of a tenant's settings.

use serde_json::Value;

use crate::{NewJob, Timestamp};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetType {
    Overview,
    SyncRun,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Overview => "overview",
            TargetType::SyncRun => "sync_run",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "overview" => TargetType::Overview,
            "sync_run" => TargetType::SyncRun,
            _ => return None,
        })
    }
}

/// Where a notification's email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailState {
    /// No email is to be sent (the tenant does not email).
    None,
    /// Waiting for the email delay.
    Pending,
    /// Handed to the SMTP server; whether it took it is not known yet.
    Sending,
    Sent,
    /// The notification was seen in the platform first.
    NotNeeded,
    /// The SMTP server refused it for good, or the attempts ran out.
    Failed,
    /// A send was interrupted (the process stopped mid-send): it may have
    /// gone out, so it is never sent again.
    Unknown,
}

impl EmailState {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailState::None => "none",
            EmailState::Pending => "pending",
            EmailState::Sending => "sending",
            EmailState::Sent => "sent",
            EmailState::NotNeeded => "not_needed",
            EmailState::Failed => "failed",
            EmailState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => EmailState::None,
            "pending" => EmailState::Pending,
            "sending" => EmailState::Sending,
            "sent" => EmailState::Sent,
            "not_needed" => EmailState::NotNeeded,
            "failed" => EmailState::Failed,
            "unknown" => EmailState::Unknown,
            _ => return None,
        })
    }
}

/// A notification to create when an operation ends.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The admin it is for.
    pub admin_id: i64,
    /// `sync_overview_ready`, `sync_complete`, `sync_overview_failed`, `sync_run_failed`.
    pub kind: String,
    pub target_type: TargetType,
    pub target_id: i64,
    /// Shown in the platform (listed, counted unseen).
    pub in_app: bool,
    /// The email job, enqueued in the same transaction with the new
    /// notification as its subject; `None` when the tenant does not email.
    /// Its presence sets the email state to `pending`, else `none`.
    pub email_job: Option<NewJob>,
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub tenant_id: i64,
    pub admin_id: i64,
    pub kind: String,
    pub target_type: TargetType,
    pub target_id: i64,
    pub in_app: bool,
    pub created_at: Timestamp,
    pub seen_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub email: EmailState,
    pub emailed_at: Option<Timestamp>,
}

/// What beginning an email found.
#[derive(Debug, Clone, PartialEq)]
pub enum EmailBegin {
    /// The email state is now `sending`: send it, then finish it.
    Send(Notification),
    /// Seen in the platform in time: the state is now `not_needed`.
    Seen,
    /// The state was not `pending` (sent already, interrupted mid-send,
    /// failed, or never to be sent): nothing changed, send nothing. An
    /// interrupted send (`sending` found) becomes `unknown`.
    Done(EmailState),
    /// No such notification.
    Missing,
}

/// A tenant's settings as the app serialises them; the store does not
/// interpret them.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSettings {
    pub settings: Value,
    pub updated_at: Timestamp,
}
