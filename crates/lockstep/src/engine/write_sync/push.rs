//! One push: a claimed sync, sent through its integration's connector,
//! turned into the result the store records.
//!
//! A push starts only while its claim's lease has time left for the push
//! and for recording its result (more than [`LEASE_MARGIN`] of the lease),
//! and it is cut off before the lease ends. So no push of a sync overlaps
//! another worker's push of it: once the lease has run out and another
//! worker may claim the sync, this worker is no longer talking to the
//! third party about it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lockstep_store::{ClaimedSync, SyncError, SyncFinish, SyncOutcome};

use super::finisher::outcome_name;
use super::WriteSyncWorker;
use crate::connectors::ConnectorError;
use crate::domain::integration::IntegrationRules;
use crate::engine::connectors::connector_for;

/// The share of a lease kept free at its end: a push is not started with
/// less than this left, and is cut off when only this is left, so its
/// result is recorded while the claim still holds.
pub const LEASE_MARGIN: f64 = 0.2;

impl WriteSyncWorker {
    /// Pushes one claimed sync. `None` when there is nothing to record: the
    /// integration is gone (its states went with it), or the lease ran out
    /// before the push could start (the sync is claimed again later).
    pub(super) async fn push(
        &self,
        claim: ClaimedSync,
        rules: Option<Arc<IntegrationRules>>,
        lease_until: DateTime<Utc>,
    ) -> Option<SyncFinish> {
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
            let now = self.engine.clock.now();
            let error = SyncError {
                field: None,
                code: "invalid_integration".into(),
                message: "the integration's configuration cannot be read; update the integration".into(),
            };
            return Some(finish(SyncOutcome::Failed { errors: vec![error] }, now, chrono::Duration::zero()));
        };

        let margin = self.lease().mul_f64(LEASE_MARGIN);
        let left = (lease_until - self.engine.clock.now()).to_std().unwrap_or(Duration::ZERO);
        if left <= margin {
            tracing::debug!(record = %record.external_id, integration = rules.id, "the claim's lease ran out before the push could start");
            self.engine.metrics.sync_finished("lease_expired");
            return None;
        }
        let started = Instant::now();
        let result = match connector_for(&self.engine.outbound, &self.engine.secrets, state.tenant_id, &rules) {
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
                match tokio::time::timeout(left - margin, push).await {
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
        self.engine.metrics.push_seconds.observe(started.elapsed().as_secs_f64());
        let now = self.engine.clock.now();
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
