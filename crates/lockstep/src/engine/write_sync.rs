//! The write-sync worker: claims due syncs from the store and pushes them to
//! third parties.
//!
//! One step ([`WriteSyncWorker::run_once`]) claims a batch of due syncs under
//! a lease, pushes them concurrently, and writes each result fenced by the
//! claim it was made under. A worker that dies mid-push leaves its claims to
//! expire; another step claims them again, and the connector's look-up
//! before create makes the repeated push adopt instead of duplicate. Tests
//! drive `run_once` directly on a manual clock; `run` loops it, sleeping
//! until the next due time or until the store signals new work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lockstep_store::{ClaimedSync, SyncError, SyncFinish, SyncOutcome};
use tokio_util::sync::CancellationToken;

use super::connectors::connector_for;
use crate::connectors::ConnectorError;
use crate::domain::integration::IntegrationRules;
use crate::AppState;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Claimed and finished this many syncs.
    Worked(usize),
    /// Nothing was due.
    EmptyQueue,
}

/// Pushes due syncs to third parties.
#[derive(Clone)]
pub struct WriteSyncWorker {
    state: AppState,
}

impl WriteSyncWorker {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.state.config.worker.lease_seconds)
    }

    /// Claims one batch of due syncs and finishes each of them.
    pub async fn run_once(&self) -> anyhow::Result<StepOutcome> {
        let now = self.state.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.lease())?;
        let claimed = self.state.store.claim_due_syncs(now, lease_until, self.state.config.worker.batch_size).await?;
        if claimed.is_empty() {
            return Ok(StepOutcome::EmptyQueue);
        }
        let integrations = self.load_integrations(&claimed).await?;
        let count = claimed.len();
        let finishes: Vec<Option<SyncFinish>> = stream::iter(claimed)
            .map(|claim| {
                let rules = integrations.get(&claim.state.integration_id).cloned().flatten();
                async move { self.sync_one(claim, rules).await }
            })
            .buffer_unordered(self.state.config.worker.concurrency)
            .collect()
            .await;
        let finishes: Vec<SyncFinish> = finishes.into_iter().flatten().collect();
        let outcomes: Vec<&'static str> = finishes.iter().map(|f| outcome_name(&f.outcome)).collect();
        let applied = self.state.store.finish_syncs(finishes).await?;
        for (outcome, applied) in outcomes.into_iter().zip(applied) {
            self.state.metrics.sync_finished(if applied { outcome } else { "fenced" });
        }
        Ok(StepOutcome::Worked(count))
    }

    /// Runs steps until nothing is due (for tests and the demo).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        while let StepOutcome::Worked(n) = self.run_once().await? {
            total += n;
        }
        Ok(total)
    }

    /// The integrations the claims belong to, parsed; `None` for one whose
    /// spec cannot be read, absent for one deleted since.
    async fn load_integrations(
        &self,
        claimed: &[ClaimedSync],
    ) -> anyhow::Result<HashMap<i64, Option<Arc<IntegrationRules>>>> {
        let mut out = HashMap::new();
        for claim in claimed {
            let id = claim.state.integration_id;
            if out.contains_key(&id) {
                continue;
            }
            if let Some(stored) = self.state.store.get_integration(claim.state.tenant_id, id).await? {
                let rules = IntegrationRules::from_stored(&stored).ok().map(Arc::new);
                out.insert(id, rules);
            }
        }
        Ok(out)
    }

    /// Pushes one claimed sync; `None` when its integration is gone (its
    /// states went with it).
    async fn sync_one(&self, claim: ClaimedSync, rules: Option<Arc<IntegrationRules>>) -> Option<SyncFinish> {
        let ClaimedSync { state, record } = claim;
        let finish = |outcome, now: DateTime<Utc>, grace: chrono::Duration| SyncFinish {
            record_id: state.record_id,
            integration_id: state.integration_id,
            claim: state.claim,
            outcome,
            now,
            repending_due_at: now + grace,
        };
        let Some(rules) = rules else {
            let now = self.state.clock.now();
            let error = SyncError {
                field: None,
                code: "invalid_integration".into(),
                message: "the integration's configuration cannot be read; update the integration".into(),
            };
            return Some(finish(SyncOutcome::Failed { errors: vec![error] }, now, chrono::Duration::zero()));
        };
        let started = Instant::now();
        let result = match connector_for(&self.state.outbound, &self.state.secrets, state.tenant_id, &rules) {
            Err(error) => Err(ConnectorError::Rejected { errors: vec![error] }),
            Ok(connector) => {
                let deactivate = record.deleted_at.is_some() || !rules.eligibility.admits(&record.fields);
                let values = rules.mapping.values(&record.fields);
                let push = async {
                    if deactivate {
                        connector.deactivate(&record.external_id, state.remote_id.as_deref()).await
                    } else {
                        connector.push(&record.external_id, state.remote_id.as_deref(), &values).await
                    }
                };
                // Stay well inside the lease, so a slow third party does not
                // let a second worker start the same push while this one runs.
                match tokio::time::timeout(self.lease().mul_f64(0.8), push).await {
                    Ok(result) => result,
                    Err(_) => Err(ConnectorError::Transient {
                        error: SyncError {
                            field: None,
                            code: "timeout".into(),
                            message: "the third party did not finish within the worker's lease".into(),
                        },
                        retry_after: None,
                    }),
                }
            }
        };
        self.state.metrics.push_seconds.observe(started.elapsed().as_secs_f64());
        let now = self.state.clock.now();
        let outcome = match result {
            Ok(pushed) => SyncOutcome::Synced { remote_id: pushed.remote_id },
            Err(ConnectorError::Rejected { errors }) => {
                SyncOutcome::Failed { errors: attribute_fields(errors, &rules) }
            }
            Err(ConnectorError::Transient { error, retry_after }) => {
                let attempts = state.attempts.max(1) as u32;
                let errors = attribute_fields(vec![error], &rules);
                if rules.retry.may_retry(attempts) {
                    let wait = rules.retry.backoff(attempts, retry_after, &mut rand::thread_rng());
                    let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                    SyncOutcome::Retry { at, errors }
                } else {
                    SyncOutcome::Failed { errors }
                }
            }
        };
        tracing::debug!(record = %record.external_id, integration = rules.id, outcome = outcome_name(&outcome), "sync attempt finished");
        Some(finish(outcome, now, rules.grace_period))
    }

    /// Loops steps until `shutdown` is cancelled. Between steps it waits for
    /// the store's work signal, the next due time, or the idle poll, whichever
    /// comes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let signal = self.state.store.work_signal();
        let idle = Duration::from_secs_f64(self.state.config.worker.idle_poll_seconds);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            // Register interest before looking, so a signal sent while the
            // step runs is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = match self.run_once().await {
                Ok(StepOutcome::Worked(_)) => {
                    failures = 0;
                    continue;
                }
                Ok(StepOutcome::EmptyQueue) => {
                    failures = 0;
                    self.until_next_due(idle).await
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %format!("{error:#}"), "write-sync step failed; backing off");
                    Duration::from_millis(200 * 2u64.pow(failures.min(6)))
                }
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    async fn until_next_due(&self, idle: Duration) -> Duration {
        match self.state.store.next_due_at().await {
            Ok(Some(due)) => (due - self.state.clock.now()).to_std().unwrap_or(Duration::ZERO).min(idle),
            Ok(None) => idle,
            Err(error) => {
                tracing::warn!(%error, "could not read the next due time");
                idle
            }
        }
    }
}

fn outcome_name(outcome: &SyncOutcome) -> &'static str {
    match outcome {
        SyncOutcome::Synced { .. } => "synced",
        SyncOutcome::Failed { .. } => "failed",
        SyncOutcome::Retry { .. } => "retry",
    }
}

/// Names the record field an error is about when the third party's message
/// names one of the integration's target attributes, so the record page can
/// show the error on that field.
fn attribute_fields(mut errors: Vec<SyncError>, rules: &IntegrationRules) -> Vec<SyncError> {
    for error in errors.iter_mut().filter(|e| e.field.is_none()) {
        let mut targets: Vec<_> = rules.mapping.fields.iter().collect();
        // The longest target first: `name.givenName` before `name`.
        targets.sort_by_key(|f| std::cmp::Reverse(f.target.as_str().len()));
        error.field = targets
            .into_iter()
            .find(|f| mentions(&error.message, f.target.as_str()) || mentions(&error.message, &f.target.attribute))
            .map(|f| f.source.as_str().to_owned());
    }
    errors
}

/// Whether `word` occurs in `text` on its own (not inside a longer name).
fn mentions(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_matches_whole_names_only() {
        assert!(mentions("title 'CEO' is not allowed", "title"));
        assert!(!mentions("userName is taken", "name"));
        assert!(mentions("bad value for name.givenName", "name.givenName"));
    }
}
