//! What a planned sync does to a record's sync states, defined once.
//!
//! Both stores write a [`PlannedSync`] with their own SQL, and both answer a
//! write with the record's states as it left them ([`RecordWritten::states`]).
//! This is the in-memory half: the same change applied to the states the
//! store read, so the answer needs no second read. The conformance suite
//! checks that it agrees with what a read returns afterwards.
//!
//! [`RecordWritten::states`]: crate::RecordWritten::states

use std::collections::BTreeMap;

use chrono::SubsecRound;

use crate::{PlannedSync, Record, SyncState, SyncStatus, Timestamp};

/// Applies `sync` to `states` (by integration id) for `record` at `now`.
/// Returns whether a state changed: a change during syncing is remembered
/// only on a state that is syncing.
pub fn apply_planned_sync(
    states: &mut BTreeMap<i64, SyncState>,
    record: &Record,
    sync: &PlannedSync,
    now: Timestamp,
) -> bool {
    // The precision the stores keep, so the answer equals a later read.
    let now = now.trunc_subsecs(3);
    match *sync {
        PlannedSync::Pending { integration_id, due_at, pending_since } => {
            let state = states
                .entry(integration_id)
                .or_insert_with(|| SyncState::new(record.id, integration_id, record.tenant_id, now));
            state.status = SyncStatus::Pending;
            state.due_at = Some(due_at.trunc_subsecs(3));
            state.pending_since = Some(pending_since.trunc_subsecs(3));
            state.attempts = 0;
            state.changed_during_sync = false;
            state.updated_at = now;
            true
        }
        PlannedSync::ChangedDuringSync { integration_id } => match states.get_mut(&integration_id) {
            Some(state) if state.status == SyncStatus::Syncing => {
                state.changed_during_sync = true;
                state.updated_at = now;
                true
            }
            _ => false,
        },
    }
}
