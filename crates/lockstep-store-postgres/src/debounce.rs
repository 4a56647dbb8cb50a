//! A record's debounce column (migration 0007): the due times that a
//! locked batch moved by writing the record row instead of each pending
//! sync state, and how a state read from the store gets its due time back.
//!
//! Stored as a JSONB object from integration id to milliseconds since the
//! epoch, `{"12": 1795000000123}`: small, and exact in SQL
//! (`lockstep_due_at`), where a float of seconds would not be.

use std::collections::BTreeMap;

use lockstep_store::{StoreError, StoreResult, SyncState, SyncStatus, Timestamp};
use serde_json::{Map, Value};

/// A record's debounced due times, by integration id.
pub(crate) type Debounce = BTreeMap<i64, Timestamp>;

/// Decodes the column. An entry that is not an integer key with an integer
/// time means the column was written by something other than this store.
pub(crate) fn from_json(value: &Value) -> StoreResult<Debounce> {
    let corrupt = || StoreError::Corrupt(format!("a record's debounce column is not as stored: {value}"));
    let Value::Object(entries) = value else { return Err(corrupt()) };
    entries
        .iter()
        .map(|(integration_id, at)| {
            let integration_id = integration_id.parse::<i64>().map_err(|_| corrupt())?;
            let at = at.as_i64().and_then(Timestamp::from_timestamp_millis).ok_or_else(corrupt)?;
            Ok((integration_id, at))
        })
        .collect()
}

/// Encodes the column.
pub(crate) fn to_json(debounce: &Debounce) -> Value {
    let entries: Map<String, Value> =
        debounce.iter().map(|(id, at)| (id.to_string(), Value::from(at.timestamp_millis()))).collect();
    Value::Object(entries)
}

/// `state` as the scheduler sees it: a pending state is due no earlier than
/// its record's entry (the same rule as `lockstep_due_at` in SQL).
pub(crate) fn effective(mut state: SyncState, debounce: &Debounce) -> SyncState {
    if state.status == SyncStatus::Pending {
        if let Some(&at) = debounce.get(&state.integration_id) {
            state.due_at = Some(state.due_at.map_or(at, |due| due.max(at)));
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_timestamp_millis(ms).unwrap()
    }

    fn state(status: SyncStatus, due_ms: i64) -> SyncState {
        SyncState { status, due_at: Some(at(due_ms)), ..SyncState::new(1, 7, 1, at(0)) }
    }

    #[test]
    fn round_trips_through_json() {
        let debounce = Debounce::from([(7, at(1_795_000_000_123)), (12, at(5))]);
        let json = to_json(&debounce);
        assert_eq!(json, serde_json::json!({"7": 1_795_000_000_123_i64, "12": 5}));
        assert_eq!(from_json(&json).unwrap(), debounce);
    }

    #[test]
    fn refuses_a_column_it_did_not_write() {
        for bad in [serde_json::json!([]), serde_json::json!({"x": 1}), serde_json::json!({"7": "soon"})] {
            assert!(matches!(from_json(&bad), Err(StoreError::Corrupt(_))), "{bad}");
        }
    }

    #[test]
    fn a_pending_state_is_due_at_the_later_time() {
        let later = Debounce::from([(7, at(2_000))]);
        assert_eq!(effective(state(SyncStatus::Pending, 1_000), &later).due_at, Some(at(2_000)));
        // An entry left by an earlier quiet period is earlier, and ignored.
        let earlier = Debounce::from([(7, at(500))]);
        assert_eq!(effective(state(SyncStatus::Pending, 1_000), &earlier).due_at, Some(at(1_000)));
        // Another integration's entry is not this state's.
        let other = Debounce::from([(8, at(2_000))]);
        assert_eq!(effective(state(SyncStatus::Pending, 1_000), &other).due_at, Some(at(1_000)));
    }

    #[test]
    fn only_pending_states_are_debounced() {
        let later = Debounce::from([(7, at(2_000))]);
        // A syncing state's due time is its lease.
        assert_eq!(effective(state(SyncStatus::Syncing, 1_000), &later).due_at, Some(at(1_000)));
    }
}
