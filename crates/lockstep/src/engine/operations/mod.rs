//! The two operations an admin starts on an integration: a Sync Overview
//! (a saved preview of a full sync) and Sync Now (the full sync applied,
//! with its Sync Log). Both are jobs on the durable queue
//! ([`overview_job`], [`sync_run_job`]), walking the third party and the
//! records the same way ([`walk`]).
//!
//! Starting one writes its row and its job in one transaction, then waits
//! up to the tenant's `background_after_seconds` for it to end. Ended in
//! time: the caller answers with the result. Not: the row is marked
//! *backgrounded* and the caller answers that the work goes on; the job's
//! end then notifies the admin who started it, in the same transaction
//! that records the end. The mark and the end are ordered by the store, so
//! exactly one of the two happens: the request gets the result, or the
//! admin gets a notification. (A job that ends well after the threshold
//! marks the row itself first: the request that waited for it may have
//! gone with its process.)

pub mod overview_job;
pub mod sync_run_job;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use lockstep_store::{NewJob, NewNotification, Overview, StoreError, SyncRun, SyncRunStart, Timestamp};

use crate::connectors::Connector;
use crate::domain::integration::IntegrationRules;
use crate::domain::validity::{overview_invalid_reason, InvalidReason};
use crate::engine::connectors::connector_for;
use crate::engine::notify::{notification_for, NotificationKind};
use crate::engine::Engine;

pub use overview_job::{OverviewJob, OVERVIEW_JOB};
pub use sync_run_job::{SyncRunJob, SYNC_RUN_JOB};

/// How late past the threshold a job may end before it assumes no
/// request is waiting any more.
const LATE_SLACK: TimeDelta = TimeDelta::seconds(5);
/// How long starting an operation waits for the third party to show it
/// can list users.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// An integration, ready to walk: its rules and its connector.
pub(crate) enum Loaded {
    Ready(Box<IntegrationRules>, Arc<dyn Connector>),
    /// It cannot be used; the operation fails with this.
    Unusable(String),
    /// The store failed; try again.
    Retry(String),
}

/// Loads an integration's rules and builds its connector.
pub(crate) async fn load_rules(engine: &Engine, tenant_id: i64, integration_id: i64) -> Loaded {
    let stored = match engine.store.get_integration(tenant_id, integration_id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Loaded::Unusable("the integration has been deleted".into()),
        Err(error) => return Loaded::Retry(error.to_string()),
    };
    let rules = match IntegrationRules::from_stored(&stored) {
        Ok(rules) => rules,
        Err(error) => return Loaded::Unusable(format!("the integration's configuration cannot be read: {error}")),
    };
    match connector_for(&engine.outbound, &engine.secrets, tenant_id, &rules) {
        Ok(connector) => Loaded::Ready(Box::new(rules), connector),
        Err(error) => Loaded::Unusable(error.message),
    }
}

/// Why an operation could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no such integration")]
    NoIntegration,
    /// The connector cannot list users (or cannot be built).
    #[error("{0}")]
    CannotList(String),
    /// Another run of the integration is running.
    #[error("sync run {} of this integration is still running", .0.id)]
    AlreadyRunning(SyncRun),
    /// The overview to apply is not one of the tenant's.
    #[error("no overview {0}")]
    UnknownOverview(i64),
    /// The overview to apply is not valid any more (or not ready).
    #[error("{0}")]
    OverviewNotApplicable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a started operation ended while its request waited.
#[derive(Debug, Clone, PartialEq)]
pub enum Waited<T> {
    /// Ended in time: the result.
    Done(T),
    /// Goes on in the background; its end notifies the admin.
    Background(T),
}

/// An overview with its validity, decided now.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewView {
    pub overview: Overview,
    pub invalid_reason: Option<InvalidReason>,
}

impl Engine {
    /// Signals that an operation of this process ended.
    pub(crate) fn operation_ended(&self) {
        self.operations.notify_waiters();
    }

    /// The notification an operation's end creates for `admin_id`, and
    /// whether the end is late (past the threshold and its slack, so the
    /// job marks the operation backgrounded itself). `None` when the
    /// tenant notifies on no channel, or its settings cannot be read.
    pub(crate) async fn notification_on_end(
        &self,
        tenant_id: i64,
        admin_id: i64,
        kind: NotificationKind,
        target_id: i64,
        started_at: Timestamp,
    ) -> Option<(bool, NewNotification)> {
        let settings = self.settings(tenant_id).await.ok()?;
        let now = self.clock.now();
        let late = now - started_at > TimeDelta::seconds(i64::from(settings.background_after_seconds)) + LATE_SLACK;
        notification_for(&settings, tenant_id, admin_id, kind, target_id, now).map(|n| (late, n))
    }

    /// Checks that an integration exists and its connector can list users:
    /// one request for a page of one user. A third party that answers it
    /// cannot list is refused before anything is written; a passing
    /// failure is left to the job, which retries.
    async fn check_can_list(&self, tenant_id: i64, integration_id: i64) -> Result<(), StartError> {
        match load_rules(self, tenant_id, integration_id).await {
            // A third party that is slow to answer is the job's to wait
            // for, not the request's: the check gives up after a few seconds.
            Loaded::Ready(_, connector) => {
                match tokio::time::timeout(PROBE_TIMEOUT, connector.list_users(1, 1)).await {
                    Ok(Err(crate::connectors::ConnectorError::Rejected { errors })) => Err(StartError::CannotList(
                        errors.first().map(|e| e.message.clone()).unwrap_or_else(|| "the third party refused".into()),
                    )),
                    _ => Ok(()),
                }
            }
            Loaded::Unusable(error) if error.contains("deleted") => Err(StartError::NoIntegration),
            Loaded::Unusable(error) => Err(StartError::CannotList(error)),
            Loaded::Retry(error) => Err(StartError::Store(StoreError::Database(error))),
        }
    }

    /// Starts a Sync Overview of the integration for `admin_id` and waits
    /// for it (see the module docs).
    pub async fn start_overview(
        &self,
        tenant_id: i64,
        integration_id: i64,
        admin_id: i64,
    ) -> Result<Waited<OverviewView>, StartError> {
        self.store.get_integration(tenant_id, integration_id).await?.ok_or(StartError::NoIntegration)?;
        self.check_can_list(tenant_id, integration_id).await?;
        let settings = self.settings(tenant_id).await?;
        let now = self.clock.now();
        let job = NewJob { max_attempts: 5, ..NewJob::new(OVERVIEW_JOB, Some(tenant_id), now) };
        let overview = self
            .store
            .create_overview(tenant_id, integration_id, admin_id, job, now)
            .await?
            .ok_or(StartError::NoIntegration)?;
        let wait = Duration::from_secs(u64::from(settings.background_after_seconds));
        let id = overview.id;
        let ended = self
            .wait_for(wait, || async {
                Ok(self
                    .store
                    .get_overview(tenant_id, id)
                    .await?
                    .filter(|o| o.status != lockstep_store::OverviewStatus::Running))
            })
            .await?;
        if ended.is_none() && self.store.background_overview(tenant_id, id).await? {
            let view = self.overview(tenant_id, id).await?.ok_or(StartError::NoIntegration)?;
            return Ok(Waited::Background(view));
        }
        let view = self.overview(tenant_id, id).await?.ok_or(StartError::NoIntegration)?;
        Ok(Waited::Done(view))
    }

    /// An overview with its validity decided now.
    pub async fn overview(&self, tenant_id: i64, overview_id: i64) -> Result<Option<OverviewView>, StoreError> {
        let Some(overview) = self.store.get_overview(tenant_id, overview_id).await? else { return Ok(None) };
        let settings = self.settings(tenant_id).await?;
        let validity = TimeDelta::seconds(i64::from(settings.overview_validity_seconds));
        let invalid_reason = overview_invalid_reason(&overview, validity, self.clock.now());
        Ok(Some(OverviewView { overview, invalid_reason }))
    }

    /// Starts a Sync Now of the integration for `admin_id` (applying
    /// `overview_id`'s changes exactly, when given) and waits for it.
    pub async fn start_sync_run(
        &self,
        tenant_id: i64,
        integration_id: i64,
        overview_id: Option<i64>,
        admin_id: i64,
    ) -> Result<Waited<SyncRun>, StartError> {
        self.store.get_integration(tenant_id, integration_id).await?.ok_or(StartError::NoIntegration)?;
        if let Some(overview_id) = overview_id {
            let view = self.overview(tenant_id, overview_id).await?.ok_or(StartError::UnknownOverview(overview_id))?;
            if view.overview.integration_id != integration_id {
                return Err(StartError::OverviewNotApplicable(format!(
                    "overview {overview_id} is an overview of another integration"
                )));
            }
            if let Some(reason) = view.invalid_reason {
                return Err(StartError::OverviewNotApplicable(format!(
                    "overview {overview_id} is no longer valid: {}",
                    reason.explanation()
                )));
            }
            if view.overview.status != lockstep_store::OverviewStatus::Ready {
                return Err(StartError::OverviewNotApplicable(format!(
                    "overview {overview_id} is {}, not ready",
                    view.overview.status.as_str()
                )));
            }
        } else {
            self.check_can_list(tenant_id, integration_id).await?;
        }
        let settings = self.settings(tenant_id).await?;
        let now = self.clock.now();
        let job = NewJob { max_attempts: 5, ..NewJob::new(SYNC_RUN_JOB, Some(tenant_id), now) };
        let run = match self.store.create_sync_run(tenant_id, integration_id, overview_id, admin_id, job, now).await? {
            None => return Err(StartError::NoIntegration),
            Some(SyncRunStart::AlreadyRunning(run)) => return Err(StartError::AlreadyRunning(run)),
            Some(SyncRunStart::Started(run)) => run,
        };
        let wait = Duration::from_secs(u64::from(settings.background_after_seconds));
        let id = run.id;
        let ended = self
            .wait_for(wait, || async {
                Ok(self
                    .store
                    .get_sync_run(tenant_id, id)
                    .await?
                    .filter(|r| r.status != lockstep_store::SyncRunStatus::Running))
            })
            .await?;
        if let Some(run) = ended {
            return Ok(Waited::Done(run));
        }
        if self.store.background_sync_run(tenant_id, id).await? {
            let run = self.store.get_sync_run(tenant_id, id).await?.ok_or(StartError::NoIntegration)?;
            return Ok(Waited::Background(run));
        }
        let run = self.store.get_sync_run(tenant_id, id).await?.ok_or(StartError::NoIntegration)?;
        Ok(Waited::Done(run))
    }

    /// Polls `ended` until it yields a value or `wait` has passed; woken
    /// early when an operation of this process ends.
    async fn wait_for<T, F, Fut>(&self, wait: Duration, ended: F) -> Result<Option<T>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let signal = self.operations.notified();
            tokio::pin!(signal);
            signal.as_mut().enable();
            if let Some(value) = ended().await? {
                return Ok(Some(value));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Another process may run the job: look again at least every
            // 250 ms, however quiet this process is.
            let next = (now + Duration::from_millis(250)).min(deadline);
            tokio::select! {
                _ = &mut signal => {}
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }
}

impl Engine {
    /// Each notification's validity, decided now by its target's rules: an
    /// overview's as [`Engine::overview`] decides it; a sync run's Sync Log
    /// never expires, so a notification about a run is always valid.
    pub async fn notification_validity(
        &self,
        tenant_id: i64,
        notifications: &[lockstep_store::Notification],
    ) -> Result<std::collections::HashMap<i64, Option<InvalidReason>>, StoreError> {
        let overview_ids: Vec<i64> = notifications
            .iter()
            .filter(|n| n.target_type == lockstep_store::TargetType::Overview)
            .map(|n| n.target_id)
            .collect();
        let overviews = if overview_ids.is_empty() {
            Vec::new()
        } else {
            self.store.overviews_by_ids(tenant_id, &overview_ids).await?
        };
        let settings = self.settings(tenant_id).await?;
        let validity = TimeDelta::seconds(i64::from(settings.overview_validity_seconds));
        let now = self.clock.now();
        Ok(notifications
            .iter()
            .map(|n| {
                let reason = match n.target_type {
                    lockstep_store::TargetType::SyncRun => None,
                    lockstep_store::TargetType::Overview => match overviews.iter().find(|o| o.id == n.target_id) {
                        Some(overview) => overview_invalid_reason(overview, validity, now),
                        None => Some(InvalidReason::IntegrationDeleted),
                    },
                };
                (n.id, reason)
            })
            .collect())
    }
}
