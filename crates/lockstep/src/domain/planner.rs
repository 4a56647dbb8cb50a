//! The debounce planner: what one record write means for each integration.
//!
//! A change is relevant to an integration when one of its mapped fields
//! changed, or when the record's eligibility flipped (became eligible: push
//! it; stopped being eligible or was deleted: deactivate it). An irrelevant
//! change touches nothing. A relevant change makes the state `sync_pending`,
//! due one grace period from now; further relevant changes push the due time
//! back, but never past the first change of the quiet period plus the max
//! wait, so a stream of edits cannot starve a record. A relevant change that
//! arrives while the record is `syncing` is remembered on the state; the
//! sync then ends in a new grace period instead of dropping it.

use chrono::{DateTime, Utc};
use lockstep_store::{PlannedSync, PlannedWrite, Record, SyncPlanner, SyncState, SyncStatus};
use serde_json::Value;

use super::fields::{all_paths, changed_paths};
use super::integration::IntegrationRules;

/// Plans record writes of one record type against that type's integrations.
pub struct RecordPlanner<'a> {
    pub now: DateTime<Utc>,
    pub integrations: &'a [IntegrationRules],
    /// The tenant's integrations version they were read under, so the store
    /// refuses the write if they have changed since (`None`: no check).
    pub integrations_version: Option<i64>,
}

impl SyncPlanner for RecordPlanner<'_> {
    fn plan(&self, previous: Option<&Record>, next: Option<&Value>, states: &[SyncState]) -> PlannedWrite {
        let previous_fields = previous.filter(|r| r.deleted_at.is_none()).map(|r| &r.fields);
        let changed_fields = match (previous_fields, next) {
            (Some(before), Some(after)) => changed_paths(before, after),
            (None, Some(after)) => all_paths(after),
            (Some(before), None) => all_paths(before),
            (None, None) => Vec::new(),
        };
        let syncs = self
            .integrations
            .iter()
            .filter_map(|integration| {
                let state = states.iter().find(|s| s.integration_id == integration.id);
                self.plan_one(integration, previous_fields, next, state)
            })
            .collect();
        PlannedWrite { changed_fields, syncs }
    }

    fn integrations_version(&self) -> Option<i64> {
        self.integrations_version
    }
}

impl RecordPlanner<'_> {
    fn plan_one(
        &self,
        integration: &IntegrationRules,
        previous: Option<&Value>,
        next: Option<&Value>,
        state: Option<&SyncState>,
    ) -> Option<PlannedSync> {
        let was_eligible = previous.is_some_and(|f| integration.eligibility.admits(f));
        let is_eligible = next.is_some_and(|f| integration.eligibility.admits(f));
        let relevant = match (was_eligible, is_eligible, previous, next) {
            (true, true, Some(before), Some(after)) => integration.mapping.differs(before, after),
            // Newly eligible (or new): the third party must learn of it.
            (false, true, _, _) => true,
            // No longer eligible (or deleted): deactivate, if it was ever scheduled.
            (true, false, _, _) => state.is_some(),
            _ => false,
        };
        if !relevant {
            return None;
        }
        let integration_id = integration.id;
        if state.is_some_and(|s| s.status == SyncStatus::Syncing) {
            return Some(PlannedSync::ChangedDuringSync { integration_id });
        }
        let pending_since =
            state.filter(|s| s.status == SyncStatus::Pending).and_then(|s| s.pending_since).unwrap_or(self.now);
        let due_at = (self.now + integration.grace_period).min(pending_since + integration.max_wait);
        Some(PlannedSync::Pending { integration_id, due_at, pending_since })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::IntegrationSettings;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
    }

    fn rules(id: i64, mapping: Value, eligibility: Value) -> IntegrationRules {
        let settings: IntegrationSettings = serde_json::from_value(json!({
            "connector": {"kind": "scim", "base_url": "http://127.0.0.1:1", "bearer_token": "t"},
            "field_mapping": mapping,
            "eligibility": eligibility,
            "grace_period_seconds": 300,
            "max_wait_seconds": 900
        }))
        .unwrap();
        settings.parse(id, &format!("i{id}"), "employee").unwrap()
    }

    fn record(fields: Value) -> Record {
        Record {
            id: 1,
            tenant_id: 1,
            record_type: "employee".into(),
            external_id: "e1".into(),
            fields,
            version: 1,
            created_at: t0(),
            updated_at: t0(),
            deleted_at: None,
        }
    }

    fn state(integration_id: i64, status: SyncStatus, pending_since: Option<DateTime<Utc>>) -> SyncState {
        SyncState { status, pending_since, claim: 1, attempts: 1, ..SyncState::new(1, integration_id, 1, t0()) }
    }

    fn two_integrations() -> Vec<IntegrationRules> {
        vec![
            rules(1, json!({"email": "userName"}), json!([])),
            rules(2, json!({"department": "title"}), json!([{"field": "active", "op": "eq", "value": true}])),
        ]
    }

    #[test]
    fn only_integrations_whose_fields_changed_become_pending() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let before = record(json!({"email": "a@x", "department": "Eng", "active": true}));
        let states = [state(1, SyncStatus::Synced, None), state(2, SyncStatus::Synced, None)];
        let plan =
            planner.plan(Some(&before), Some(&json!({"email": "b@x", "department": "Eng", "active": true})), &states);
        assert_eq!(plan.changed_fields, ["email"]);
        assert_eq!(
            plan.syncs,
            [PlannedSync::Pending { integration_id: 1, due_at: t0() + Duration::minutes(5), pending_since: t0() }]
        );
    }

    #[test]
    fn unmapped_change_plans_nothing() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let before = record(json!({"email": "a@x", "salary": 1, "active": true}));
        let plan = planner.plan(Some(&before), Some(&json!({"email": "a@x", "salary": 2, "active": true})), &[]);
        assert_eq!(plan.changed_fields, ["salary"]);
        assert!(plan.syncs.is_empty());
    }

    #[test]
    fn further_changes_move_the_due_time_but_not_past_the_max_wait() {
        let integrations = two_integrations();
        let before = record(json!({"email": "a@x"}));
        let pending = [state(1, SyncStatus::Pending, Some(t0()))];
        let later =
            RecordPlanner { now: t0() + Duration::minutes(4), integrations: &integrations, integrations_version: None };
        let plan = later.plan(Some(&before), Some(&json!({"email": "b@x"})), &pending);
        assert_eq!(
            plan.syncs,
            [PlannedSync::Pending { integration_id: 1, due_at: t0() + Duration::minutes(9), pending_since: t0() }]
        );
        let much_later = RecordPlanner {
            now: t0() + Duration::minutes(13),
            integrations: &integrations,
            integrations_version: None,
        };
        let plan = much_later.plan(Some(&before), Some(&json!({"email": "c@x"})), &pending);
        assert_eq!(
            plan.syncs,
            [PlannedSync::Pending { integration_id: 1, due_at: t0() + Duration::minutes(15), pending_since: t0() }]
        );
    }

    #[test]
    fn change_during_syncing_is_remembered() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let before = record(json!({"email": "a@x"}));
        let plan = planner.plan(Some(&before), Some(&json!({"email": "b@x"})), &[state(1, SyncStatus::Syncing, None)]);
        assert_eq!(plan.syncs, [PlannedSync::ChangedDuringSync { integration_id: 1 }]);
    }

    #[test]
    fn eligibility_flips_schedule_a_push_or_a_deactivation() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let inactive = record(json!({"email": "a@x", "active": false}));
        let plan = planner.plan(Some(&inactive), Some(&json!({"email": "a@x", "active": true})), &[]);
        assert_eq!(plan.syncs.iter().map(PlannedSync::integration_id).collect::<Vec<_>>(), [2]);

        let active = record(json!({"email": "a@x", "active": true}));
        let synced = [state(1, SyncStatus::Synced, None), state(2, SyncStatus::Synced, None)];
        let plan = planner.plan(Some(&active), Some(&json!({"email": "a@x", "active": false})), &synced);
        assert_eq!(plan.syncs.iter().map(PlannedSync::integration_id).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn deleting_deactivates_everywhere_it_was_synced() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let active = record(json!({"email": "a@x", "active": true}));
        let plan = planner.plan(Some(&active), None, &[state(1, SyncStatus::Synced, None)]);
        assert_eq!(plan.syncs.iter().map(PlannedSync::integration_id).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn a_new_record_is_pending_where_eligible() {
        let integrations = two_integrations();
        let planner = RecordPlanner { now: t0(), integrations: &integrations, integrations_version: None };
        let plan = planner.plan(None, Some(&json!({"email": "a@x", "active": false})), &[]);
        assert_eq!(plan.syncs.iter().map(PlannedSync::integration_id).collect::<Vec<_>>(), [1]);
        assert_eq!(plan.changed_fields, ["active", "email"]);
    }
}
