//! Recording push results as they complete.
//!
//! Each push hands its result to a [`Finisher`] the moment it ends. The
//! finisher writes what has arrived in one store call, and while that call
//! runs the next results queue behind it, so a busy worker records many
//! results per transaction and an idle one records each at once. No result
//! waits for the rest of its claimed batch: a slow third party holding one
//! push does not hold back the others' results.
//!
//! One result the store refuses never blocks the others. When a group's
//! write fails, its results are written one by one; a result the database
//! refuses outright ([`StoreError::Refused`]: text it cannot hold) is
//! replaced by a failure of our own wording, so the sync ends `sync_failed`
//! instead of staying `syncing` and being pushed again after every lease.
//! Any other failure (the database unreachable) leaves the sync to its
//! lease: it is claimed again later, and the connector's look-up before a
//! create makes the repeated push adopt instead of duplicate.

use std::sync::Arc;

use lockstep_store::{StoreError, SyncError, SyncFinish, SyncOutcome, SyncQueue};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// Most results written in one store call.
const MAX_GROUP: usize = 512;

/// Takes push results and records them in the store as they arrive.
pub struct Finisher {
    results: mpsc::UnboundedSender<SyncFinish>,
    task: JoinHandle<()>,
}

impl Finisher {
    /// Starts recording into `queue`.
    pub fn start(queue: Arc<dyn SyncQueue>, metrics: Arc<Metrics>) -> Finisher {
        let (results, mut arrived) = mpsc::unbounded_channel::<SyncFinish>();
        let task = tokio::spawn(async move {
            while let Some(first) = arrived.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match arrived.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                record(&*queue, group, &metrics).await;
            }
        });
        Finisher { results, task }
    }

    /// Hands over one push's result; it is recorded without waiting for others.
    pub fn submit(&self, finish: SyncFinish) {
        // The receiver lives until `close`, which takes `self`.
        let _ = self.results.send(finish);
    }

    /// Waits until every result handed over is recorded.
    pub async fn close(self) {
        drop(self.results);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the task recording sync results ended abnormally");
        }
    }
}

/// Writes a group of results; on failure, each alone (see the module doc).
async fn record(queue: &dyn SyncQueue, group: Vec<SyncFinish>, metrics: &Metrics) {
    let outcomes: Vec<&'static str> = group.iter().map(|f| outcome_name(&f.outcome)).collect();
    match queue.finish_syncs(group.clone()).await {
        Ok(applied) => {
            for (outcome, applied) in outcomes.into_iter().zip(applied) {
                metrics.sync_finished(if applied { outcome } else { "fenced" });
            }
        }
        Err(error) if group.len() > 1 => {
            tracing::warn!(%error, results = group.len(), "recording a group of sync results failed; recording each alone");
            for finish in group {
                record_alone(queue, finish, metrics).await;
            }
        }
        Err(error) => {
            let finish = group.into_iter().next().expect("a group of one");
            after_failure(queue, finish, error, metrics).await;
        }
    }
}

async fn record_alone(queue: &dyn SyncQueue, finish: SyncFinish, metrics: &Metrics) {
    let outcome = outcome_name(&finish.outcome);
    match queue.finish_syncs(vec![finish.clone()]).await {
        Ok(applied) => metrics.sync_finished(if applied.first() == Some(&true) { outcome } else { "fenced" }),
        Err(error) => after_failure(queue, finish, error, metrics).await,
    }
}

/// A lone result the store did not take: replaced by a failure of our own
/// when the database refused its values, otherwise left to its lease.
async fn after_failure(queue: &dyn SyncQueue, finish: SyncFinish, error: StoreError, metrics: &Metrics) {
    let StoreError::Refused(reason) = &error else {
        tracing::error!(%error, record_id = finish.record_id, integration_id = finish.integration_id,
            "could not record a sync result; the sync is claimed again when its lease ends");
        return;
    };
    tracing::warn!(%reason, record_id = finish.record_id, integration_id = finish.integration_id,
        "the database refused a sync result; recording it as failed");
    let substitute = SyncFinish { outcome: unstorable(), ..finish };
    match queue.finish_syncs(vec![substitute]).await {
        Ok(applied) => metrics.sync_finished(if applied.first() == Some(&true) { "failed" } else { "fenced" }),
        Err(error) => {
            tracing::error!(%error, "could not record a sync as failed; it is claimed again when its lease ends")
        }
    }
}

/// The failure recorded in place of a result the store cannot hold.
fn unstorable() -> SyncOutcome {
    SyncOutcome::Failed {
        errors: vec![SyncError {
            field: None,
            code: "unstorable_result".into(),
            message: "the third party's answer could not be stored; retry the sync, and if this persists \
                      ask the operator to look for it in the log"
                .into(),
        }],
    }
}

/// The metrics label of an outcome.
pub fn outcome_name(outcome: &SyncOutcome) -> &'static str {
    match outcome {
        SyncOutcome::Synced { .. } => "synced",
        SyncOutcome::Failed { .. } => "failed",
        SyncOutcome::Retry { .. } => "retry",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::DateTime;
    use lockstep_store::{ClaimedSync, StoreResult, SyncStatus, Timestamp};
    use tokio::sync::Notify;

    use super::*;

    /// A queue that refuses, as PostgreSQL does, every write holding a NUL,
    /// and remembers what it recorded and how many calls it took.
    #[derive(Default)]
    struct RefusesNul {
        recorded: Mutex<Vec<SyncFinish>>,
        calls: Mutex<usize>,
    }

    #[async_trait]
    impl SyncQueue for RefusesNul {
        fn work_signal(&self) -> Arc<Notify> {
            Arc::new(Notify::new())
        }
        async fn retry_failed(&self, _: i64, _: i64, _: Option<i64>, _: Timestamp) -> StoreResult<u64> {
            Ok(0)
        }
        async fn claim_due_syncs(&self, _: Timestamp, _: Timestamp, _: u32) -> StoreResult<Vec<ClaimedSync>> {
            Ok(Vec::new())
        }
        async fn finish_syncs(&self, finishes: Vec<SyncFinish>) -> StoreResult<Vec<bool>> {
            *self.calls.lock().unwrap() += 1;
            let holds_nul = |f: &SyncFinish| match &f.outcome {
                SyncOutcome::Failed { errors } | SyncOutcome::Retry { errors, .. } => {
                    errors.iter().any(|e| e.message.contains('\0'))
                }
                SyncOutcome::Synced { .. } => false,
            };
            if finishes.iter().any(holds_nul) {
                return Err(StoreError::Refused("unsupported Unicode escape sequence".into()));
            }
            let applied = vec![true; finishes.len()];
            self.recorded.lock().unwrap().extend(finishes);
            Ok(applied)
        }
        async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
            Ok(None)
        }
        async fn sync_status_counts(&self) -> StoreResult<Vec<(SyncStatus, i64)>> {
            Ok(Vec::new())
        }
        async fn integration_status_counts(&self, _: i64) -> StoreResult<Vec<(i64, SyncStatus, i64)>> {
            Ok(Vec::new())
        }
    }

    fn finish(record_id: i64, outcome: SyncOutcome) -> SyncFinish {
        SyncFinish {
            record_id,
            integration_id: 1,
            claim: 1,
            outcome,
            now: DateTime::UNIX_EPOCH,
            repending_due_at: DateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn a_result_the_database_refuses_fails_alone_and_the_others_are_recorded() {
        let queue = Arc::new(RefusesNul::default());
        let bad = SyncError { field: None, code: "invalidValue".into(), message: "bad\0value".into() };
        let group = vec![
            finish(1, SyncOutcome::Synced { remote_id: None }),
            finish(2, SyncOutcome::Failed { errors: vec![bad] }),
            finish(3, SyncOutcome::Synced { remote_id: None }),
        ];
        record(&*queue, group, &Metrics::new()).await;

        let recorded = queue.recorded.lock().unwrap();
        let by_record = |id: i64| recorded.iter().find(|f| f.record_id == id).map(|f| f.outcome.clone());
        assert_eq!(by_record(1), Some(SyncOutcome::Synced { remote_id: None }));
        assert_eq!(by_record(3), Some(SyncOutcome::Synced { remote_id: None }));
        match by_record(2) {
            Some(SyncOutcome::Failed { errors }) => {
                assert_eq!(errors[0].code, "unstorable_result");
                assert!(!errors[0].message.contains('\0'));
            }
            other => panic!("the refused result should be recorded as a failure of its own, not {other:?}"),
        }
        // The group, then each alone, then the substitute.
        assert_eq!(*queue.calls.lock().unwrap(), 1 + 3 + 1);
    }

    #[tokio::test]
    async fn results_handed_over_are_all_recorded_by_close() {
        let queue = Arc::new(RefusesNul::default());
        let finisher = Finisher::start(queue.clone(), Arc::new(Metrics::new()));
        for id in 0..100 {
            finisher.submit(finish(id, SyncOutcome::Synced { remote_id: None }));
        }
        finisher.close().await;
        assert_eq!(queue.recorded.lock().unwrap().len(), 100);
        assert!(*queue.calls.lock().unwrap() <= 100);
    }
}
