//! The `sync_run` job: Sync Now. Applies every create, update and
//! deactivation a full sync finds — walking the third party live, or, for
//! a run started with an overview, exactly that overview's changes — and
//! logs each operation.
//!
//! Every push goes through the record's sync state, as a debounced sync's
//! would: the run claims the states of a chunk of records (a pending one's
//! grace period ends early; one a write-sync push holds is left for later),
//! pushes the records' current values, and records the fenced finishes
//! with the log entries and counts in one transaction. So each record's
//! sync state ends `synced` or `sync_failed` with the third party's
//! errors, exactly as a debounced sync would leave it, and a record whose
//! user already matches but whose state was pending or failed is settled
//! `synced` without a push.
//!
//! A job claimed again after its process died goes on: the records its
//! log holds already are skipped (their operations happened), and the walk
//! finds the rest. A push interrupted by the crash had claimed its state;
//! the write-sync worker takes it over when that lease runs out.
//!
//! A passing failure of one push (timeout, 429, 5xx) is tried again up to
//! [`PUSH_ATTEMPTS`] times within the run, waiting what the third party
//! asked for (at most [`MAX_WAIT`]); then the operation fails and the run
//! goes on. Like a write-sync push, no push outlives the claim it was made
//! under: it is cut off with a fifth of the lease left ([`LEASE_MARGIN`]),
//! so the write-sync worker, which may claim the state once the lease has
//! run out, never pushes the same record at the same time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use lockstep_store::{
    ChangeAction, ClaimedSync, Job, LogOutcome, NewSyncLogEntry, Record, RunClaim, SyncError, SyncFinish, SyncOutcome,
    SyncRunCounts, SyncRunResults, SyncRunStatus, SyncStatus,
};
use serde_json::{Map, Value};

use super::walk::{walk, Found, Sink, WalkEnd, WalkError};
use super::{load_rules, Loaded};
use crate::connectors::{Connector, ConnectorError, Pushed};
use crate::domain::full_sync::{valid_user, Verdict};
use crate::domain::integration::IntegrationRules;
use crate::engine::jobs::{JobHandler, JobResult};
use crate::engine::notify::NotificationKind;
use crate::engine::write_sync::LEASE_MARGIN;
use crate::engine::Engine;

/// The job kind that applies a Sync Now.
pub const SYNC_RUN_JOB: &str = "sync_run";
/// Tries of one push within a run.
pub const PUSH_ATTEMPTS: u32 = 3;
/// The longest a run waits before trying a push again.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Rounds of waiting for records a write-sync push holds, a second apart.
const BUSY_ROUNDS: u32 = 120;

/// Applies Sync Now runs.
pub struct SyncRunJob {
    engine: Engine,
    concurrency: u32,
    pushes: usize,
    lease: Duration,
}

impl SyncRunJob {
    /// The handler, as the job worker holds it. `pushes`: pushes in flight
    /// per run; `lease`: how long a run's claim holds a sync state (the
    /// write-sync worker's lease).
    pub fn handler(engine: Engine, concurrency: u32, pushes: usize, lease: Duration) -> Arc<dyn JobHandler> {
        Arc::new(SyncRunJob { engine, concurrency, pushes: pushes.max(1), lease })
    }

    async fn finish(&self, tenant_id: i64, run_id: i64, error: Option<String>) {
        let engine = &self.engine;
        let Ok(Some(run)) = engine.store.get_sync_run(tenant_id, run_id).await else { return };
        let c = run.counts;
        let status = match (&error, c.failed, c.created + c.updated + c.deactivated + c.unchanged) {
            (Some(_), _, _) => SyncRunStatus::Failed,
            (None, 0, _) => SyncRunStatus::Succeeded,
            (None, _, 0) => SyncRunStatus::Failed,
            (None, _, _) => SyncRunStatus::PartiallyFailed,
        };
        let kind = if error.is_some() { NotificationKind::SyncRunFailed } else { NotificationKind::SyncComplete };
        let notification = engine.notification_on_end(tenant_id, run.started_by, kind, run_id, run.started_at).await;
        if let Some((true, _)) = &notification {
            let _ = engine.store.background_sync_run(tenant_id, run_id).await;
        }
        let now = engine.clock.now();
        match engine.store.finish_sync_run(tenant_id, run_id, status, error, notification.map(|(_, n)| n), now).await {
            Ok(_) => engine.operation_ended(),
            Err(error) => tracing::error!(run = run_id, %error, "could not record a sync run's end"),
        }
    }

    /// The records the run's log holds already (a resumed run skips them).
    async fn logged(&self, tenant_id: i64, run_id: i64) -> Result<HashSet<String>, lockstep_store::StoreError> {
        let mut logged = HashSet::new();
        let mut after = None;
        loop {
            let page = self.engine.store.list_sync_run_log(tenant_id, run_id, None, after, 1000).await?;
            let Some(last) = page.last() else { return Ok(logged) };
            after = Some(last.seq);
            logged.extend(page.into_iter().map(|e| e.external_id));
        }
    }
}

#[async_trait]
impl JobHandler for SyncRunJob {
    fn kind(&self) -> &'static str {
        SYNC_RUN_JOB
    }

    fn concurrency(&self) -> u32 {
        self.concurrency
    }

    async fn run(&self, job: &Job) -> JobResult {
        let (Some(tenant_id), Some(run_id)) = (job.tenant_id, job.subject_id) else {
            return JobResult::Fail { error: "a sync-run job without its tenant or run".into() };
        };
        let store = self.engine.store.clone();
        let run = match store.get_sync_run(tenant_id, run_id).await {
            Ok(Some(run)) if run.status == SyncRunStatus::Running => run,
            Ok(_) => return JobResult::Done,
            Err(error) => return JobResult::Retry { error: error.to_string(), after: None },
        };
        let (rules, connector) = match load_rules(&self.engine, tenant_id, run.integration_id).await {
            Loaded::Ready(rules, connector) => (*rules, connector),
            Loaded::Unusable(error) => {
                self.finish(tenant_id, run_id, Some(error)).await;
                return JobResult::Done;
            }
            Loaded::Retry(error) => return JobResult::Retry { error, after: None },
        };
        let logged = if job.attempts > 1 {
            match self.logged(tenant_id, run_id).await {
                Ok(logged) => logged,
                Err(error) => return JobResult::Retry { error: error.to_string(), after: None },
            }
        } else {
            HashSet::new()
        };
        let mut applier = Applier {
            engine: self.engine.clone(),
            tenant_id,
            run_id,
            rules: Arc::new(rules),
            connector,
            pushes: self.pushes,
            lease: self.lease,
            logged,
            busy: Vec::new(),
        };
        let walked = match run.overview_id {
            None => {
                walk(store.as_ref(), tenant_id, &applier.rules.clone(), applier.connector.clone(), &mut applier).await
            }
            Some(overview_id) => applier.apply_overview(overview_id).await,
        };
        let walked = match walked {
            Ok(()) => applier.apply_busy().await,
            Err(error) => Err(error),
        };
        match WalkEnd::from(walked) {
            WalkEnd::Completed => self.finish(tenant_id, run_id, None).await,
            WalkEnd::Refused(reason) => self.finish(tenant_id, run_id, Some(reason)).await,
            WalkEnd::Retry(retry) => return retry,
            WalkEnd::Stopped => {}
        }
        JobResult::Done
    }

    async fn give_up(&self, job: &Job, error: &str) {
        if let (Some(tenant_id), Some(run_id)) = (job.tenant_id, job.subject_id) {
            self.finish(tenant_id, run_id, Some(format!("the sync run could not be completed: {error}"))).await;
        }
    }
}

/// A push's results: the sync state's finish, its log entry and counts.
type PushResult = (SyncFinish, Option<NewSyncLogEntry>, SyncRunCounts);

/// What a run does for one record.
#[derive(Debug, Clone)]
enum Action {
    Create,
    Update,
    Deactivate,
    /// The mapping cannot make a valid user of it (unless the record has
    /// changed since): logged as a failed create or update.
    Invalid {
        had_user: bool,
    },
    /// Its user matches already but its state is not `synced`: settle it.
    Settle,
}

#[derive(Debug, Clone)]
struct Operation {
    record: Record,
    action: Action,
    /// The third party's id of the user, when the walk or overview knew it.
    remote_id: Option<String>,
}

/// Claims, pushes and records a run's operations.
struct Applier {
    engine: Engine,
    tenant_id: i64,
    run_id: i64,
    rules: Arc<IntegrationRules>,
    connector: Arc<dyn Connector>,
    pushes: usize,
    lease: Duration,
    /// Records the run has logged already.
    logged: HashSet<String>,
    /// Operations whose state a write-sync push held; tried at the end.
    busy: Vec<Operation>,
}

#[async_trait]
impl Sink for Applier {
    async fn page(&mut self, found: Vec<Found>) -> Result<(), WalkError> {
        let mut operations = Vec::new();
        let mut unchanged = Vec::new();
        for Found { record, user, verdict } in found {
            let Some(record) = record else { continue };
            if self.logged.contains(&record.external_id) {
                continue;
            }
            let remote_id = user.as_ref().and_then(|u| u.id.clone());
            let action = match verdict {
                Verdict::Create { .. } => Action::Create,
                Verdict::Update { .. } => Action::Update,
                Verdict::Deactivate => Action::Deactivate,
                Verdict::Error { .. } => Action::Invalid { had_user: user.is_some() },
                Verdict::Unchanged => {
                    unchanged.push(Operation { record, action: Action::Settle, remote_id });
                    continue;
                }
                Verdict::Unmanaged | Verdict::Ignored => continue,
            };
            operations.push(Operation { record, action, remote_id });
        }
        // Unchanged records count as such; those whose state is not
        // `synced` (a pending change whose values the third party holds
        // already, an old failure) are settled.
        if !unchanged.is_empty() {
            let ids: Vec<i64> = unchanged.iter().map(|o| o.record.id).collect();
            let states = self.engine.store.sync_states_for_records(self.tenant_id, &ids).await?;
            let synced: HashSet<i64> = states
                .iter()
                .filter(|s| s.integration_id == self.rules.id && s.status == SyncStatus::Synced)
                .map(|s| s.record_id)
                .collect();
            let counts = SyncRunCounts { unchanged: unchanged.len() as i64, ..Default::default() };
            self.record(SyncRunResults { counts, ..Default::default() }).await?;
            operations.extend(unchanged.into_iter().filter(|o| !synced.contains(&o.record.id)));
        }
        self.apply(operations).await
    }
}

impl Applier {
    /// Applies an overview's changes, exactly: its creates, updates,
    /// deactivations and errors, with the records' current values.
    async fn apply_overview(&mut self, overview_id: i64) -> Result<(), WalkError> {
        let mut after = None;
        loop {
            let changes =
                self.engine.store.list_overview_changes(self.tenant_id, overview_id, None, after, 500).await?;
            let Some(last) = changes.last() else { return Ok(()) };
            after = Some(last.seq);
            let ids: Vec<String> = changes
                .iter()
                .filter(|c| !self.logged.contains(&c.external_id))
                .map(|c| c.external_id.clone())
                .collect();
            let records: HashMap<String, Record> = self
                .engine
                .store
                .records_by_external_ids(self.tenant_id, &self.rules.record_type, &ids)
                .await?
                .into_iter()
                .map(|r| (r.external_id.clone(), r))
                .collect();
            let operations = changes
                .into_iter()
                .filter_map(|change| {
                    let record = records.get(&change.external_id)?.clone();
                    let action = match change.action {
                        ChangeAction::Create => Action::Create,
                        ChangeAction::Update => Action::Update,
                        ChangeAction::Deactivate => Action::Deactivate,
                        ChangeAction::Error => Action::Invalid { had_user: change.remote_id.is_some() },
                    };
                    Some(Operation { record, action, remote_id: change.remote_id })
                })
                .collect();
            self.apply(operations).await?;
        }
    }

    /// Tries the operations a write-sync push held again, a second apart,
    /// until they are claimed or the rounds run out (then they fail).
    async fn apply_busy(&mut self) -> Result<(), WalkError> {
        for _ in 0..BUSY_ROUNDS {
            if self.busy.is_empty() {
                return Ok(());
            }
            // Bounded wait for another worker's push to end; its lease caps it.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = std::mem::take(&mut self.busy);
            self.apply(busy).await?;
        }
        let now = self.engine.clock.now();
        let busy = std::mem::take(&mut self.busy);
        let mut results = SyncRunResults::default();
        for operation in busy {
            results.counts.failed += 1;
            results.entries.push(NewSyncLogEntry {
                external_id: operation.record.external_id,
                action: log_action(&operation.action),
                attributes: Value::Object(Map::new()),
                outcome: LogOutcome::Failed,
                errors: vec![SyncError {
                    field: None,
                    code: "busy".into(),
                    message: "the record's sync did not end during the run: the write-sync worker held it, or the \
                              third party did not answer within the run's claims"
                        .into(),
                }],
                at: now,
            });
        }
        self.record(results).await
    }

    async fn record(&self, results: SyncRunResults) -> Result<(), WalkError> {
        let applied = self.engine.store.record_sync_run_results(self.tenant_id, self.run_id, results.clone()).await?;
        let empty =
            results.finishes.is_empty() && results.entries.is_empty() && results.counts == SyncRunCounts::default();
        if !empty && applied.iter().all(|a| !a) && !results.finishes.is_empty() {
            // Every finish refused: the run itself may have ended.
            let run = self.engine.store.get_sync_run(self.tenant_id, self.run_id).await?;
            if run.is_none_or(|r| r.status != SyncRunStatus::Running) {
                return Err(WalkError::Stopped("the sync run is no longer running".into()));
            }
        }
        Ok(())
    }

    /// Claims, pushes and records `operations`, a chunk at a time.
    async fn apply(&mut self, operations: Vec<Operation>) -> Result<(), WalkError> {
        let mut operations = operations.into_iter().peekable();
        while operations.peek().is_some() {
            // Only as many as can be pushed at once: a claimed record does
            // not wait, lease running, behind the others.
            let chunk: Vec<Operation> = operations.by_ref().take(self.pushes).collect();
            let ids: Vec<i64> = chunk.iter().map(|o| o.record.id).collect();
            let now = self.engine.clock.now();
            let lease_until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
            let claims =
                self.engine.store.claim_syncs_for_run(self.tenant_id, self.rules.id, &ids, now, lease_until).await?;
            let mut claimed = Vec::new();
            for (operation, claim) in chunk.into_iter().zip(claims) {
                match claim {
                    RunClaim::Claimed(sync) => claimed.push((operation, sync)),
                    RunClaim::Busy { .. } => self.busy.push(operation),
                    RunClaim::Missing { .. } => {}
                }
            }
            let results: Vec<Result<PushResult, Operation>> = stream::iter(claimed)
                .map(|(operation, sync)| self.push(operation, sync, lease_until))
                .buffer_unordered(self.pushes)
                .collect()
                .await;
            let mut batch = SyncRunResults::default();
            let mut unfinished = Vec::new();
            for result in results {
                let (finish, entry, counts) = match result {
                    Ok(done) => done,
                    Err(operation) => {
                        unfinished.push(operation);
                        continue;
                    }
                };
                batch.finishes.push(finish);
                batch.entries.extend(entry);
                batch.counts.created += counts.created;
                batch.counts.updated += counts.updated;
                batch.counts.deactivated += counts.deactivated;
                batch.counts.unchanged += counts.unchanged;
                batch.counts.failed += counts.failed;
            }
            self.record(batch).await?;
            // Cut off by the lease: tried again once the claim has run out
            // (the write-sync worker may finish them first).
            self.busy.extend(unfinished);
        }
        Ok(())
    }

    /// Pushes one claimed record as its operation says; the finish of its
    /// sync state, its log entry (none for a settled record) and counts.
    /// The operation back when the claim's lease ran out first: nothing is
    /// recorded for it, and it is tried again.
    async fn push(
        &self,
        operation: Operation,
        sync: ClaimedSync,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<PushResult, Operation> {
        let ClaimedSync { state, record } = sync;
        let rules = &self.rules;
        let values = rules.mapping.values(&record.fields);
        let wanted = record.deleted_at.is_none() && rules.eligibility.admits(&record.fields);
        let remote_id = state.remote_id.clone().or(operation.remote_id.clone());
        // The record as it is now decides what is pushed: one that stopped
        // being eligible since the walk is deactivated, never pushed stale.
        let action = match (&operation.action, wanted) {
            (Action::Settle, _) => Action::Settle,
            (_, false) => Action::Deactivate,
            (Action::Deactivate, true) => Action::Update,
            (action, true) => action.clone(),
        };
        let mut counts = SyncRunCounts::default();
        // No push outlives its claim: once the lease has run out, the
        // write-sync worker may claim the state and push it too. The push
        // is cut off with a fifth of the lease left, as the worker's are.
        let margin = self.lease.mul_f64(LEASE_MARGIN);
        let left = (lease_until - self.engine.clock.now()).to_std().unwrap_or_default().saturating_sub(margin);
        if left.is_zero() {
            return Err(operation);
        }
        let (result, attributes): (Option<Result<Pushed, ConnectorError>>, Value) = match &action {
            Action::Settle => (Some(Ok(Pushed { remote_id: remote_id.clone() })), Value::Null),
            Action::Deactivate => {
                let attributes = serde_json::json!({"active": false});
                let result =
                    self.retrying(left, || self.connector.deactivate(&record.external_id, remote_id.as_deref())).await;
                (result, attributes)
            }
            Action::Create | Action::Update | Action::Invalid { .. } => {
                let attributes = Value::Object(
                    values.iter().map(|(target, value)| (target.as_str().to_owned(), value.clone())).collect(),
                );
                let result = match valid_user(&values) {
                    Err(reason) => Some(Err(ConnectorError::rejected("invalid_user", &reason))),
                    // Never pushed before and absent from the listing: create
                    // outright. Anything else looks up first, so a push an
                    // earlier attempt made is adopted, not duplicated.
                    Ok(()) if matches!(action, Action::Create) && state.claim == 1 && remote_id.is_none() => {
                        self.retrying(left, || self.connector.create(&record.external_id, &values)).await
                    }
                    Ok(()) => {
                        self.retrying(left, || self.connector.push(&record.external_id, remote_id.as_deref(), &values))
                            .await
                    }
                };
                (result, attributes)
            }
        };
        let Some(result) = result else { return Err(operation) };
        let now = self.engine.clock.now();
        let (outcome, log_outcome, errors) = match result {
            Ok(pushed) => {
                (SyncOutcome::Synced { remote_id: pushed.remote_id.or(remote_id) }, LogOutcome::Succeeded, Vec::new())
            }
            Err(ConnectorError::Rejected { errors }) => {
                (SyncOutcome::Failed { errors: errors.clone() }, LogOutcome::Failed, errors)
            }
            Err(ConnectorError::Transient { error, .. }) => {
                (SyncOutcome::Failed { errors: vec![error.clone()] }, LogOutcome::Failed, vec![error])
            }
        };
        let finish = SyncFinish {
            record_id: state.record_id,
            integration_id: state.integration_id,
            claim: state.claim,
            outcome,
            now,
            repending_due_at: now + rules.grace_period,
        };
        if matches!(action, Action::Settle) {
            return Ok((finish, None, counts));
        }
        let log_action = log_action(&action);
        match (log_outcome, log_action) {
            (LogOutcome::Failed, _) => counts.failed += 1,
            (_, ChangeAction::Create) => counts.created += 1,
            (_, ChangeAction::Deactivate) => counts.deactivated += 1,
            _ => counts.updated += 1,
        }
        let entry = NewSyncLogEntry {
            external_id: record.external_id,
            action: log_action,
            attributes,
            outcome: log_outcome,
            errors,
            at: now,
        };
        Ok((finish, Some(entry), counts))
    }

    /// Runs a push, trying a passing failure again up to [`PUSH_ATTEMPTS`]
    /// times, all of it within `within`; `None` when that ran out.
    async fn retrying<'a, F, Fut>(&'a self, within: Duration, push: F) -> Option<Result<Pushed, ConnectorError>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Pushed, ConnectorError>> + 'a,
    {
        let tries = async {
            let mut attempt = 1;
            loop {
                match push().await {
                    Err(ConnectorError::Transient { retry_after, .. }) if attempt < PUSH_ATTEMPTS => {
                        let wait = retry_after.unwrap_or(Duration::from_millis(500) * 2u32.pow(attempt)).min(MAX_WAIT);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    result => return result,
                }
            }
        };
        tokio::time::timeout(within, tries).await.ok()
    }
}

/// The action a log entry names for an operation.
fn log_action(action: &Action) -> ChangeAction {
    match action {
        Action::Create => ChangeAction::Create,
        Action::Update | Action::Settle => ChangeAction::Update,
        Action::Deactivate => ChangeAction::Deactivate,
        Action::Invalid { had_user: true, .. } => ChangeAction::Update,
        Action::Invalid { had_user: false, .. } => ChangeAction::Create,
    }
}
