//! The rules of a record write that do not depend on the SQL dialect,
//! stated once for every backend: which version a write's `If-Match`
//! compares with, and which writes store nothing.

use serde_json::Value;

use crate::{PlannedWrite, Record, RecordWrite, StoreError, StoreResult};

/// The version a client sees: the stored record's, or 0 when there is none
/// or it is deleted (a deleted record is, to the client, no record).
pub fn live_version(previous: Option<&Record>) -> i64 {
    previous.filter(|r| r.deleted_at.is_none()).map_or(0, |r| r.version)
}

/// Refuses a write whose `expected_version` is not the live version.
pub fn check_expected_version(write: &RecordWrite, previous: Option<&Record>) -> StoreResult<()> {
    let found = live_version(previous);
    match write.expected_version {
        Some(expected) if expected != found => {
            Err(StoreError::VersionConflict { external_id: write.external_id.clone(), expected, found })
        }
        _ => Ok(()),
    }
}

/// Whether a write stores nothing: a live record written again with no
/// changed field, or a deleted record deleted again. Nothing of it is
/// stored, planned syncs included, and its version stays. Deleting a record
/// that never existed is not a no-op: it stores a tombstone, which a later
/// write revives.
pub fn is_noop(previous: Option<&Record>, next: Option<&Value>, plan: &PlannedWrite) -> bool {
    match (previous, next) {
        (Some(p), Some(_)) => p.deleted_at.is_none() && plan.changed_fields.is_empty(),
        (Some(p), None) => p.deleted_at.is_some(),
        (None, _) => false,
    }
}

/// Whether a stored write makes a record the client did not see before.
pub fn is_create(previous: Option<&Record>, next: Option<&Value>) -> bool {
    next.is_some() && live_version(previous) == 0
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn record(version: i64, deleted: bool) -> Record {
        Record {
            id: 1,
            tenant_id: 1,
            record_type: "employee".into(),
            external_id: "e1".into(),
            fields: json!({"a": 1}),
            version,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            deleted_at: deleted.then_some(DateTime::UNIX_EPOCH),
        }
    }

    fn changed(fields: &[&str]) -> PlannedWrite {
        PlannedWrite { changed_fields: fields.iter().map(|f| f.to_string()).collect(), syncs: Vec::new() }
    }

    #[test]
    fn a_deleted_record_counts_as_version_zero() {
        assert_eq!(live_version(Some(&record(4, true))), 0);
        assert_eq!(live_version(Some(&record(4, false))), 4);
        assert_eq!(live_version(None), 0);
    }

    #[test]
    fn deleting_a_deleted_record_is_a_noop_whatever_the_planner_says() {
        assert!(is_noop(Some(&record(2, true)), None, &changed(&["a"])));
        assert!(!is_noop(Some(&record(2, false)), None, &changed(&[])));
        assert!(!is_noop(None, None, &changed(&[])), "a tombstone is stored");
    }

    #[test]
    fn writing_a_live_record_unchanged_is_a_noop_but_reviving_is_not() {
        let fields = json!({"a": 1});
        assert!(is_noop(Some(&record(2, false)), Some(&fields), &changed(&[])));
        assert!(!is_noop(Some(&record(2, false)), Some(&fields), &changed(&["a"])));
        assert!(!is_noop(Some(&record(2, true)), Some(&fields), &changed(&[])));
    }

    #[test]
    fn a_stale_expected_version_is_a_conflict() {
        let write = RecordWrite { external_id: "e1".into(), fields: None, expected_version: Some(1) };
        assert!(check_expected_version(&write, Some(&record(1, false))).is_ok());
        assert!(matches!(
            check_expected_version(&write, Some(&record(2, false))),
            Err(StoreError::VersionConflict { expected: 1, found: 2, .. })
        ));
    }
}
