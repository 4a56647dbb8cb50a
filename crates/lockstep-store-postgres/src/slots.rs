//! Planning a batch in memory, the same on both write paths (records.rs):
//! each key's record and sync states as the earlier writes of the batch
//! left them, what the planner decided, and what changed since the rows were
//! read, which is what `write_changes` stores and checks.
//!
//! **Debounce in the record row.** On the locking path a relevant change of
//! a state that was pending already and stays so (the debounce: only its
//! due time moves) is stored in the record's `debounce` column, which the
//! write stores anyway, instead of in the state row (migration 0007). That
//! is safe only while the state is locked: a claim cannot take it between
//! the read and the commit, and a claim that comes after sees the new due
//! time (claims.rs locks the record too). The read-then-write path holds no
//! locks, so it stores every change of a state in the state row, where its
//! check catches a claim in between.

use std::collections::{BTreeMap, HashMap};

use lockstep_store::{
    apply_planned_sync, write_rules, PlannedSync, Record, RecordWrite, RecordWritten, StoreError, StoreResult,
    SyncPlanner, SyncState, SyncStatus, Timestamp,
};

use crate::debounce::{self, Debounce};
use crate::write_changes::Changes;

/// A sync state as it was read: the columns that every change by a claim, a
/// finish or a retry moves. The planner's decision holds while they hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ReadState {
    pub status: SyncStatus,
    pub claim: i64,
    pub due_at: Option<Timestamp>,
}

impl ReadState {
    fn of(state: &SyncState) -> ReadState {
        ReadState { status: state.status, claim: state.claim, due_at: state.due_at }
    }
}

/// One key of the batch while it is planned.
pub(crate) struct Slot {
    /// Version 0: no previous record. Its id is one drawn from the sequence
    /// for the insert, or a reserved placeholder row's (records.rs).
    pub record: Record,
    /// The version as read, 0 for a new key: what the row must still hold
    /// when the changes are stored.
    pub read_version: i64,
    /// The key has no row yet and the record is inserted.
    pub insert: bool,
    pub record_changed: bool,
    /// By integration id, so the planner sees them in a stable order.
    pub states: BTreeMap<i64, SyncState>,
    /// The states that existed when read, as they were then.
    pub read_states: BTreeMap<i64, ReadState>,
    pub states_changed: Vec<i64>,
    /// The record's debounced due times: as read, then as this batch moved them.
    pub debounce: Debounce,
    pub debounce_changed: bool,
}

impl Slot {
    /// A key whose record (and states) were read as `record`, with its
    /// debounce column.
    pub fn read(record: Record, insert: bool, debounce: Debounce) -> Slot {
        Slot {
            read_version: record.version,
            record,
            insert,
            record_changed: false,
            states: BTreeMap::new(),
            read_states: BTreeMap::new(),
            states_changed: Vec::new(),
            debounce,
            debounce_changed: false,
        }
    }

    /// Adds a state of the record as it was stored. The write checks it as
    /// stored; the planner sees it with its due time (`debounce::effective`).
    pub fn read_state(&mut self, state: SyncState) {
        self.read_states.insert(state.integration_id, ReadState::of(&state));
        self.states.insert(state.integration_id, debounce::effective(state, &self.debounce));
    }

    /// A placeholder for a key with no record: version 0, no fields.
    pub fn placeholder(id: i64, tenant_id: i64, record_type: &str, external_id: &str, now: Timestamp) -> Record {
        Record {
            id,
            tenant_id,
            record_type: record_type.to_owned(),
            external_id: external_id.to_owned(),
            fields: serde_json::Value::Object(serde_json::Map::new()),
            version: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    fn previous(&self) -> Option<&Record> {
        (self.record.version > 0).then_some(&self.record)
    }
}

/// Plans every write of the batch, in order, against `slots` (by
/// `external_id`; every key of the batch has one). With `locked`, the
/// batch holds its rows locked and debounces in the record row (see the
/// module docs). Returns the results and whether the workers must be woken:
/// a sync became due sooner than before (see `apply`).
pub(crate) fn plan_batch(
    slots: &mut HashMap<String, Slot>,
    writes: &[RecordWrite],
    planner: &dyn SyncPlanner,
    now: Timestamp,
    locked: bool,
) -> StoreResult<(Vec<RecordWritten>, bool)> {
    let mut wakes_workers = false;
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        let slot = slots
            .get_mut(&write.external_id)
            .ok_or_else(|| StoreError::Corrupt(format!("record {} was not read", write.external_id)))?;
        let (written, wakes) = apply(slot, write, planner, now, locked)?;
        wakes_workers |= wakes;
        results.push(written);
    }
    Ok((results, wakes_workers))
}

/// What the planned batch changed, to be stored. With `check_unchanged`, the
/// records the batch read but left alone are checked too (the read-then-write
/// path holds no locks on them).
pub(crate) fn changes(slots: &HashMap<String, Slot>, signal_work: bool, check_unchanged: bool) -> Changes<'_> {
    let mut changes = Changes { signal_work, ..Changes::default() };
    for slot in slots.values() {
        match (slot.record_changed, slot.insert) {
            (true, true) => changes.inserted_records.push(&slot.record),
            (true, false) => changes.updated_records.push((
                &slot.record,
                slot.read_version,
                slot.debounce_changed.then_some(&slot.debounce),
            )),
            (false, _) if check_unchanged => changes.unchanged_records.push((slot.record.id, slot.read_version)),
            (false, _) => {}
        }
        for id in &slot.states_changed {
            let state = &slot.states[id];
            match slot.read_states.get(id) {
                Some(read) => changes.changed_states.push((state, *read)),
                None => changes.new_states.push(state),
            }
        }
    }
    changes
}

/// Applies one write to its slot in memory; returns what it did and whether
/// it must wake the workers (a sync became due sooner).
fn apply(
    slot: &mut Slot,
    write: &RecordWrite,
    planner: &dyn SyncPlanner,
    now: Timestamp,
    locked: bool,
) -> StoreResult<(RecordWritten, bool)> {
    let previous = slot.previous();
    write_rules::check_expected_version(write, previous)?;
    let states: Vec<SyncState> = slot.states.values().cloned().collect();
    let plan = planner.plan(previous, write.fields.as_ref(), &states);

    if write_rules::is_noop(previous, write.fields.as_ref(), &plan) {
        let written = RecordWritten {
            record: slot.record.clone(),
            created: false,
            changed_fields: Vec::new(),
            affected_integrations: Vec::new(),
            states,
        };
        return Ok((written, false));
    }

    let created = write_rules::is_create(previous, write.fields.as_ref());
    let record = &mut slot.record;
    record.version += 1;
    record.updated_at = now;
    match &write.fields {
        Some(fields) => {
            record.fields = fields.clone();
            record.deleted_at = None;
        }
        // The fields stay: the deactivation push still needs them.
        None => record.deleted_at = Some(now),
    }
    slot.record_changed = true;

    let mut wakes = false;
    let mut affected = Vec::with_capacity(plan.syncs.len());
    for sync in &plan.syncs {
        let integration_id = sync.integration_id();
        let before = slot.states.get(&integration_id).map(|s| (Debounced::of(s), s.due_at, s.updated_at));
        if !apply_planned_sync(&mut slot.states, record, sync, now) {
            continue;
        }
        affected.push(integration_id);
        let state = slot.states.get_mut(&integration_id).expect("a planned sync leaves its state");
        // Workers sleep until the earliest due time they have read, so only
        // a sync that is due sooner than before needs to wake them: a new
        // one, one that was not pending, one whose due time moved earlier.
        // A debounce moves it later; a worker that wakes at the old time
        // finds nothing due and reads the new one. Not waking them saves a
        // NOTIFY per write, which every listening process would handle.
        wakes |= matches!(sync, PlannedSync::Pending { .. })
            && !matches!(before, Some((ref read, due_before, _)) if read.is_pending() && state.due_at >= due_before);
        match (before, state.due_at) {
            // Only later: the record's entry can only move a due time later.
            (Some((before, due_before, updated_at)), Some(due_at))
                if locked && before.is_pending() && before == Debounced::of(state) && Some(due_at) >= due_before =>
            {
                slot.debounce_changed |= slot.debounce.insert(integration_id, due_at) != Some(due_at);
                // The row is not written: the answer shows it as a later read will.
                state.updated_at = updated_at;
            }
            _ => {
                // The state row holds the due time now; an entry would
                // hold it later than planned.
                slot.debounce_changed |= slot.debounce.remove(&integration_id).is_some();
                if !slot.states_changed.contains(&integration_id) {
                    slot.states_changed.push(integration_id);
                }
            }
        }
    }
    let written = RecordWritten {
        record: record.clone(),
        created,
        changed_fields: plan.changed_fields,
        affected_integrations: affected,
        states: slot.states.values().cloned().collect(),
    };
    Ok((written, wakes))
}

/// What a debounce leaves as it was: a state whose status, quiet period,
/// attempts and owed change are all unchanged by a write was only moved
/// later, and its new due time can live in the record row.
#[derive(PartialEq)]
struct Debounced {
    status: SyncStatus,
    pending_since: Option<Timestamp>,
    attempts: i32,
    changed_during_sync: bool,
}

impl Debounced {
    fn of(state: &SyncState) -> Debounced {
        Debounced {
            status: state.status,
            pending_since: state.pending_since,
            attempts: state.attempts,
            changed_during_sync: state.changed_during_sync,
        }
    }

    fn is_pending(&self) -> bool {
        self.status == SyncStatus::Pending
    }
}
