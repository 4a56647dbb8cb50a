//! The `overview` job: computes a Sync Overview by walking the third
//! party's users and the records ([`super::walk`]) and saving every change
//! it would make, page by page, as the overview's changes.
//!
//! A job claimed again after its process died walks again from the start.
//! The changes are numbered in walk order, and a number the overview holds
//! already is not stored twice, so a walk over unchanged data adds only
//! what the first one had not saved; the summary is counted afresh.
//!
//! Changes are saved [`SAVE_EVERY`] at a time, not page by page. On SQLite
//! every write makes each read connection drop its page cache (WAL readers
//! cannot tell which pages changed), and the walk's look-ups then read and
//! allocate every page again: with a change or two on most pages of a
//! directory mostly in step, saving page by page took a third of the
//! walk's time. Nothing is lost by waiting: a walk that stops starts over.

use std::sync::Arc;

use async_trait::async_trait;
use lockstep_store::{ChangeAction, Job, OverviewChange, OverviewStatus, OverviewSummary};
use serde_json::{json, Value};

use super::walk::{walk, Found, Sink, WalkEnd, WalkError};
use super::{load_rules, Loaded};
use crate::domain::full_sync::{AttributeDiff, Verdict};
use crate::engine::jobs::{JobHandler, JobResult};
use crate::engine::notify::NotificationKind;
use crate::engine::Engine;

/// The job kind that computes an overview.
pub const OVERVIEW_JOB: &str = "overview";
/// Changes held before they are saved (a few megabytes at most).
const SAVE_EVERY: usize = 5_000;

/// Computes overviews.
pub struct OverviewJob {
    engine: Engine,
    concurrency: u32,
}

impl OverviewJob {
    /// The handler, as the job worker holds it.
    pub fn handler(engine: Engine, concurrency: u32) -> Arc<dyn JobHandler> {
        Arc::new(OverviewJob { engine, concurrency })
    }

    async fn finish(&self, tenant_id: i64, overview_id: i64, outcome: Result<OverviewSummary, String>) {
        let engine = &self.engine;
        let Ok(Some(overview)) = engine.store.get_overview(tenant_id, overview_id).await else { return };
        let (status, summary, error, kind) = match outcome {
            Ok(summary) => (OverviewStatus::Ready, summary, None, NotificationKind::SyncOverviewReady),
            Err(error) => {
                (OverviewStatus::Failed, OverviewSummary::default(), Some(error), NotificationKind::SyncOverviewFailed)
            }
        };
        let notification =
            engine.notification_on_end(tenant_id, overview.created_by, kind, overview_id, overview.created_at).await;
        if let Some((late, _)) = &notification {
            if *late {
                let _ = engine.store.background_overview(tenant_id, overview_id).await;
            }
        }
        let now = engine.clock.now();
        match engine
            .store
            .finish_overview(tenant_id, overview_id, status, summary, error, notification.map(|(_, n)| n), now)
            .await
        {
            Ok(_) => engine.operation_ended(),
            Err(error) => tracing::error!(overview = overview_id, %error, "could not record an overview's end"),
        }
    }
}

#[async_trait]
impl JobHandler for OverviewJob {
    fn kind(&self) -> &'static str {
        OVERVIEW_JOB
    }

    fn concurrency(&self) -> u32 {
        self.concurrency
    }

    async fn run(&self, job: &Job) -> JobResult {
        let (Some(tenant_id), Some(overview_id)) = (job.tenant_id, job.subject_id) else {
            return JobResult::Fail { error: "an overview job without its tenant or overview".into() };
        };
        let store = self.engine.store.clone();
        let overview = match store.get_overview(tenant_id, overview_id).await {
            Ok(Some(overview)) if overview.status == OverviewStatus::Running => overview,
            Ok(_) => return JobResult::Done,
            Err(error) => return JobResult::Retry { error: error.to_string(), after: None },
        };
        let (rules, connector) = match load_rules(&self.engine, tenant_id, overview.integration_id).await {
            Loaded::Ready(rules, connector) => (*rules, connector),
            Loaded::Unusable(error) => {
                self.finish(tenant_id, overview_id, Err(error)).await;
                return JobResult::Done;
            }
            Loaded::Retry(error) => return JobResult::Retry { error, after: None },
        };
        let mut sink = OverviewSink {
            engine: self.engine.clone(),
            tenant_id,
            overview_id,
            seq: 0,
            summary: OverviewSummary::default(),
            unsaved: Vec::new(),
        };
        let walked = match walk(store.as_ref(), tenant_id, &rules, connector, &mut sink).await {
            Ok(()) => sink.save().await,
            Err(error) => Err(error),
        };
        match WalkEnd::from(walked) {
            WalkEnd::Completed => self.finish(tenant_id, overview_id, Ok(sink.summary)).await,
            WalkEnd::Refused(reason) => self.finish(tenant_id, overview_id, Err(reason)).await,
            WalkEnd::Retry(retry) => return retry,
            WalkEnd::Stopped => {}
        }
        JobResult::Done
    }

    async fn give_up(&self, job: &Job, error: &str) {
        if let (Some(tenant_id), Some(overview_id)) = (job.tenant_id, job.subject_id) {
            self.finish(tenant_id, overview_id, Err(format!("the overview could not be completed: {error}"))).await;
        }
    }
}

/// Saves a walk's verdicts as an overview's changes.
struct OverviewSink {
    engine: Engine,
    tenant_id: i64,
    overview_id: i64,
    seq: i64,
    summary: OverviewSummary,
    /// Changes not saved yet, in walk order.
    unsaved: Vec<OverviewChange>,
}

impl OverviewSink {
    /// Saves the changes held; stops the walk when the overview is no
    /// longer running.
    async fn save(&mut self) -> Result<(), WalkError> {
        if self.unsaved.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut self.unsaved);
        if self.engine.store.add_overview_changes(self.tenant_id, self.overview_id, changes).await? {
            Ok(())
        } else {
            Err(WalkError::Stopped("the overview is no longer running".into()))
        }
    }
}

#[async_trait]
impl Sink for OverviewSink {
    async fn page(&mut self, found: Vec<Found>) -> Result<(), WalkError> {
        for Found { record, user, verdict } in found {
            let (action, detail) = match verdict {
                Verdict::Create { attributes } => {
                    self.summary.create += 1;
                    let attributes: Vec<AttributeDiff> = attributes
                        .into_iter()
                        .map(|(target, to)| AttributeDiff { target, from: Value::Null, to })
                        .collect();
                    (ChangeAction::Create, json!({ "attributes": attributes }))
                }
                Verdict::Update { diffs } => {
                    self.summary.update += 1;
                    (ChangeAction::Update, json!({ "attributes": diffs }))
                }
                Verdict::Deactivate => {
                    self.summary.deactivate += 1;
                    let diff =
                        AttributeDiff { target: "active".into(), from: Value::Bool(true), to: Value::Bool(false) };
                    (ChangeAction::Deactivate, json!({ "attributes": [diff] }))
                }
                Verdict::Error { reason } => {
                    self.summary.error += 1;
                    (ChangeAction::Error, json!({ "reason": reason }))
                }
                Verdict::Unchanged => {
                    self.summary.unchanged += 1;
                    continue;
                }
                Verdict::Unmanaged => {
                    self.summary.unmanaged += 1;
                    continue;
                }
                Verdict::Ignored => continue,
            };
            let Some(record) = record else { continue };
            self.seq += 1;
            self.unsaved.push(OverviewChange {
                seq: self.seq,
                action,
                external_id: record.external_id,
                remote_id: user.and_then(|u| u.id),
                detail,
            });
        }
        if self.unsaved.len() >= SAVE_EVERY {
            self.save().await?;
        }
        Ok(())
    }
}
