//! What a fenced finish does to a syncing state, stated once for every
//! backend. The backends only store it: SQLite reads the state's
//! `changed_during_sync` under its write lock and stores the matching
//! [`FinishedState`]; PostgreSQL sends both and lets one statement choose by
//! the flag as stored at that moment, since a record write may set it
//! between a worker's claim and its finish.

use crate::{SyncError, SyncFinish, SyncOutcome, SyncStatus, Timestamp};

/// The columns a finish writes to a state still `syncing` under its claim.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedState<'a> {
    pub status: SyncStatus,
    /// The new due time, which is also the new wake-up time: a finished
    /// sync is queued afresh, if at all.
    pub due_at: Option<Timestamp>,
    pub pending_since: Option<Timestamp>,
    /// Attempts start again from 0 (a new quiet period), or stay.
    pub reset_attempts: bool,
    pub changed_during_sync: bool,
    /// `Some`: the new last synced time; `None`: keep the stored one.
    pub last_synced_at: Option<Timestamp>,
    pub errors: &'a [SyncError],
    /// `Some`: the third party's id learnt by this push; `None`: keep.
    pub remote_id: Option<&'a str>,
    pub updated_at: Timestamp,
}

/// The state `finish` leaves, given whether a relevant change arrived
/// while it was syncing.
///
/// - `Synced` and `Failed` end the sync; if a change arrived meanwhile, the
///   record goes back to `sync_pending` with a new grace period
///   (`repending_due_at`) and its attempts start again, so the change is
///   not lost and the next push carries it.
/// - `Retry` stays `syncing` until the retry time, keeping the attempts
///   counted so far and the owed change.
/// - `Failed` keeps its errors even when it goes back to pending, so the
///   record page still shows why the last push failed.
pub fn finished_state(finish: &SyncFinish, changed_during_sync: bool) -> FinishedState<'_> {
    let now = finish.now;
    let (terminal, errors, last_synced_at, remote_id) = match &finish.outcome {
        SyncOutcome::Synced { remote_id } => (SyncStatus::Synced, &[][..], Some(now), remote_id.as_deref()),
        SyncOutcome::Failed { errors } => (SyncStatus::Failed, &errors[..], None, None),
        SyncOutcome::Retry { at, errors } => {
            return FinishedState {
                status: SyncStatus::Syncing,
                due_at: Some(*at),
                pending_since: None,
                reset_attempts: false,
                changed_during_sync,
                last_synced_at: None,
                errors,
                remote_id: None,
                updated_at: now,
            }
        }
    };
    let (status, due_at, pending_since) = if changed_during_sync {
        (SyncStatus::Pending, Some(finish.repending_due_at), Some(now))
    } else {
        (terminal, None, None)
    };
    FinishedState {
        status,
        due_at,
        pending_since,
        reset_attempts: changed_during_sync,
        changed_during_sync: false,
        last_synced_at,
        errors,
        remote_id,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    fn finish(outcome: SyncOutcome) -> SyncFinish {
        let now = DateTime::UNIX_EPOCH + Duration::seconds(100);
        SyncFinish {
            record_id: 1,
            integration_id: 2,
            claim: 3,
            outcome,
            now,
            repending_due_at: now + Duration::seconds(300),
        }
    }

    fn error() -> SyncError {
        SyncError { field: Some("title".into()), code: "invalidValue".into(), message: "no".into() }
    }

    #[test]
    fn a_synced_push_records_when_and_the_remote_id() {
        let f = finish(SyncOutcome::Synced { remote_id: Some("u1".into()) });
        let state = finished_state(&f, false);
        assert_eq!(state.status, SyncStatus::Synced);
        assert_eq!((state.due_at, state.pending_since), (None, None));
        assert_eq!(state.last_synced_at, Some(f.now));
        assert_eq!(state.remote_id, Some("u1"));
        assert!(state.errors.is_empty() && !state.reset_attempts);
    }

    #[test]
    fn a_change_during_the_sync_starts_a_new_grace_period_whatever_the_outcome() {
        let errors = vec![error()];
        for outcome in [SyncOutcome::Synced { remote_id: None }, SyncOutcome::Failed { errors: errors.clone() }] {
            let f = finish(outcome);
            let state = finished_state(&f, true);
            assert_eq!(state.status, SyncStatus::Pending);
            assert_eq!(state.due_at, Some(f.repending_due_at));
            assert_eq!(state.pending_since, Some(f.now));
            assert!(state.reset_attempts);
            assert!(!state.changed_during_sync, "the change is now owed by the pending state");
        }
    }

    #[test]
    fn a_failure_keeps_its_errors_and_the_last_synced_time() {
        let f = finish(SyncOutcome::Failed { errors: vec![error()] });
        let state = finished_state(&f, false);
        assert_eq!(state.status, SyncStatus::Failed);
        assert_eq!(state.errors, &[error()][..]);
        assert_eq!((state.last_synced_at, state.remote_id), (None, None));
        assert_eq!(finished_state(&f, true).errors, &[error()][..], "kept on the pending state too");
    }

    #[test]
    fn a_retry_stays_syncing_until_its_time_and_keeps_the_owed_change() {
        let at = DateTime::UNIX_EPOCH + Duration::seconds(160);
        let f = finish(SyncOutcome::Retry { at, errors: vec![error()] });
        for changed in [false, true] {
            let state = finished_state(&f, changed);
            assert_eq!(state.status, SyncStatus::Syncing);
            assert_eq!(state.due_at, Some(at));
            assert_eq!(state.changed_during_sync, changed);
            assert!(!state.reset_attempts);
        }
    }
}
