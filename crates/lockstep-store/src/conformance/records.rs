//! Cases for `write_records`, `get_record` and `list_records` as a store
//! of versioned records: versions, no-op writes, soft deletes,
//! all-or-nothing batches, order of results, tenants apart, paging.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{Store, StoreError, SyncStatus};

pub async fn a_new_record_is_created_at_version_1(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    let fields = json!({ "email": "ada@acme.test", "name": { "given": "Ada" } });
    let written = write(&store, acme.id, vec![put("e1", fields.clone())], &planner, at(1)).await;
    assert_eq!(written.len(), 1);
    let w = &written[0];
    assert!(w.created);
    assert_eq!(w.changed_fields, vec!["email", "name"], "as the planner said");
    assert_eq!(w.affected_integrations, Vec::<i64>::new());
    let r = &w.record;
    assert_eq!((r.tenant_id, r.record_type.as_str()), (acme.id, EMPLOYEE));
    assert_eq!((r.external_id.as_str(), &r.fields), ("e1", &fields));
    assert_eq!(r.version, 1);
    assert_eq!((r.created_at, r.updated_at, r.deleted_at), (at(1), at(1), None));
    let got = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(got.as_ref(), Some(r));
    assert_eq!(store.get_record(acme.id, "contractor", "e1").await.unwrap(), None);
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "e2").await.unwrap(), None);
}

pub async fn a_changed_record_gets_the_next_version(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    let first = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 2}))], &planner, at(2)).await;
    let w = &written[0];
    assert!(!w.created);
    assert_eq!(w.changed_fields, vec!["n"]);
    assert_eq!(w.record.id, first.id);
    assert_eq!(w.record.version, 2);
    assert_eq!(w.record.fields, json!({"n": 2}));
    assert_eq!((w.record.created_at, w.record.updated_at), (at(1), at(2)));
    let got = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(got, Some(w.record.clone()));
}

pub async fn a_write_that_changes_nothing_keeps_the_version_and_stores_nothing(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let stored = write_one(&store, acme.id, put("e1", json!({"n": 1})), &TestPlanner::quiet(), at(1)).await;

    // This planner wrongly plans a sync although nothing changed: a no-op
    // write stores nothing, planned syncs included.
    let planner = TestPlanner::pending(&[okta], at(2), at(100)).even_without_changes();
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 1}))], &planner, at(2)).await;
    let w = &written[0];
    assert!(!w.created);
    assert_eq!(w.changed_fields, Vec::<String>::new());
    assert_eq!(w.affected_integrations, Vec::<i64>::new());
    assert_eq!(w.record, stored, "version and updated_at stay");
    let got = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(got, Some(stored.clone()));
    assert_eq!(states(&store, acme.id, stored.id).await, vec![]);
}

pub async fn a_deleted_record_is_hidden_and_a_later_write_revives_it(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    let stored = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    write_one(&store, acme.id, put("e2", json!({"n": 2})), &planner, at(1)).await;

    let written = write(&store, acme.id, vec![delete("e1")], &planner, at(2)).await;
    let w = &written[0];
    assert!(!w.created);
    assert_eq!(w.record.id, stored.id);
    assert_eq!(w.record.version, 2, "a delete is a change");
    assert_eq!(w.record.deleted_at, Some(at(2)));
    assert_eq!(w.record.updated_at, at(2));
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap(), None);
    let listed = store.list_records(acme.id, EMPLOYEE, None, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(ids, vec!["e2"]);

    let planner = TestPlanner::quiet();
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 3}))], &planner, at(3)).await;
    let w = &written[0];
    assert!(w.created, "a write after a delete revives the record");
    assert_eq!(w.record.id, stored.id, "the revived record keeps its id");
    assert_eq!(w.record.version, 3);
    assert_eq!(w.record.deleted_at, None);
    assert_eq!(w.record.fields, json!({"n": 3}));
    let previous = planner.calls()[0].previous.clone().expect("a previous record");
    assert_eq!(previous.deleted_at, Some(at(2)), "the planner sees the deleted record");
    let got = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(got, Some(w.record.clone()));
}

pub async fn a_version_conflict_stores_nothing_of_the_batch(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let quiet = TestPlanner::quiet();
    let b = write_one(&store, acme.id, put("b", json!({"n": 1})), &quiet, at(1)).await;

    let planner = TestPlanner::pending(&[okta], at(2), at(100));
    let batch = vec![
        put("a", json!({"n": 1})),
        put("b", json!({"n": 2})),
        put_expecting("c", json!({"n": 1}), 0),
        put_expecting("b", json!({"n": 3}), 5),
    ];
    let result = store.write_records(acme.id, EMPLOYEE, &batch, &planner, at(2)).await;
    match result {
        Err(StoreError::VersionConflict { external_id, expected, found }) => {
            assert_eq!((external_id.as_str(), expected, found), ("b", 5, 2))
        }
        other => panic!("expected a VersionConflict on b, got {other:?}"),
    }
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "a").await.unwrap(), None);
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "c").await.unwrap(), None);
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "b").await.unwrap(), Some(b.clone()));
    assert_eq!(states(&store, acme.id, b.id).await, vec![]);
    assert_eq!(store.next_due_at().await.unwrap(), None);

    // The same batch with the right versions goes through.
    let batch = vec![put_expecting("b", json!({"n": 2}), 1), put_expecting("c", json!({"n": 1}), 0)];
    let written = write(&store, acme.id, batch, &planner, at(3)).await;
    assert_eq!(written[0].record.version, 2);
    assert_eq!(written[1].record.version, 1);
}

pub async fn a_deleted_record_counts_as_version_0(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    write_one(&store, acme.id, delete("e1"), &planner, at(2)).await;
    let stale = store.write_records(acme.id, EMPLOYEE, &[put_expecting("e1", json!({}), 2)], &planner, at(3)).await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { found: 0, .. })), "got {stale:?}");
    let revived = write_one(&store, acme.id, put_expecting("e1", json!({"n": 4}), 0), &planner, at(3)).await;
    assert_eq!(revived.version, 3);
}

pub async fn deleting_a_record_that_never_existed_leaves_a_tombstone(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    let tombstone = write_one(&store, acme.id, delete("ghost"), &planner, at(1)).await;
    assert_eq!(tombstone.version, 1);
    assert_eq!(tombstone.deleted_at, Some(at(1)));
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "ghost").await.unwrap(), None);
    let again = write(&store, acme.id, vec![delete("ghost")], &planner, at(2)).await;
    assert_eq!(again[0].record.version, 1, "deleting it again changes nothing");
    let revived = write(&store, acme.id, vec![put("ghost", json!({"n": 1}))], &planner, at(3)).await;
    assert!(revived[0].created);
    assert_eq!(revived[0].record.version, 2);
}

pub async fn a_later_write_in_a_batch_sees_the_earlier_one_as_previous(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(100));
    let batch = vec![put("e1", json!({"n": 1})), put("e1", json!({"n": 2})), put_expecting("e1", json!({"n": 2}), 2)];
    let written = write(&store, acme.id, batch, &planner, at(1)).await;
    let versions: Vec<i64> = written.iter().map(|w| w.record.version).collect();
    assert_eq!(versions, vec![1, 2, 2]);
    let created: Vec<bool> = written.iter().map(|w| w.created).collect();
    assert_eq!(created, vec![true, false, false]);
    assert_eq!(written[0].record.fields, json!({"n": 1}));
    assert_eq!(written[2].changed_fields, Vec::<String>::new());
    assert!(written.iter().all(|w| w.record.id == written[0].record.id));

    let calls = planner.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].previous, None);
    assert_eq!(calls[0].states, vec![]);
    assert_eq!(calls[1].previous.as_ref(), Some(&written[0].record));
    assert_eq!(calls[1].states.len(), 1, "the state the first write planned");
    assert_eq!(calls[1].states[0].status, SyncStatus::Pending);
    assert_eq!(calls[2].previous.as_ref(), Some(&written[1].record));

    let stored = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(stored, Some(written[2].record.clone()));
}

pub async fn results_come_back_in_the_order_of_the_writes(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    write_one(&store, acme.id, put("m", json!({"n": 0})), &planner, at(1)).await;
    let order = ["z", "m", "a", "q", "b"];
    let batch = order.iter().map(|id| put(id, json!({ "id": id }))).collect();
    let written = write(&store, acme.id, batch, &planner, at(2)).await;
    let ids: Vec<&str> = written.iter().map(|w| w.record.external_id.as_str()).collect();
    assert_eq!(ids, order);
    let fields: Vec<_> = written.iter().map(|w| w.record.fields.clone()).collect();
    let expected: Vec<_> = order.iter().map(|id| json!({ "id": id })).collect();
    assert_eq!(fields, expected);
    assert_eq!(written[1].record.version, 2);
}

pub async fn records_and_states_of_one_tenant_are_invisible_to_another(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let planner = TestPlanner::pending(&[okta], at(1), at(10));
    let ours = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;

    assert_eq!(store.get_record(globex.id, EMPLOYEE, "e1").await.unwrap(), None);
    assert_eq!(store.list_records(globex.id, EMPLOYEE, None, 10).await.unwrap(), vec![]);
    let theirs_view = store.sync_states_for_records(globex.id, &[ours.id]).await.unwrap();
    assert_eq!(theirs_view, vec![]);
    let retried = store.retry_failed(globex.id, ours.id, None, at(2)).await.unwrap();
    assert_eq!(retried, 0);

    let quiet = TestPlanner::quiet();
    let written = write(&store, globex.id, vec![put("e1", json!({"n": 9}))], &quiet, at(2)).await;
    assert!(written[0].created, "the same external id is another record in another tenant");
    assert_ne!(written[0].record.id, ours.id);
    assert_eq!(quiet.calls()[0].previous, None);
    let still = store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap();
    assert_eq!(still, Some(ours));
}

pub async fn list_records_pages_by_id_after_the_cursor(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let planner = TestPlanner::quiet();
    let batch = ["c", "a", "e", "b", "d", "gone"].iter().map(|id| put(id, json!({ "id": id }))).collect();
    write(&store, acme.id, batch, &planner, at(1)).await;
    write(&store, acme.id, vec![delete("gone")], &planner, at(2)).await;
    store.write_records(acme.id, "contractor", &[put("x", json!({}))], &planner, at(2)).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_records(acme.id, EMPLOYEE, cursor, 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        cursor = Some(page.last().unwrap().id);
        seen.extend(page);
    }
    let ids: Vec<i64> = seen.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
    let mut names: Vec<&str> = seen.iter().map(|r| r.external_id.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["a", "b", "c", "d", "e"]);
    assert!(seen.iter().all(|r| r.record_type == EMPLOYEE && r.deleted_at.is_none()));
}

pub async fn a_write_planned_with_changed_integrations_stores_nothing(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let known = store.integrations_version(acme.id).await.unwrap();
    let existing = write_one(&store, acme.id, put("e1", json!({"n": 1})), &TestPlanner::quiet(), at(1)).await;
    integration(&store, acme.id, "Workday").await;

    // One write, and a batch large enough for a store's bulk path.
    let stale = TestPlanner::pending(&[okta], at(2), at(100)).with_integrations_version(known);
    let one = vec![put("e1", json!({"n": 2}))];
    let many: Vec<_> = (0..100).map(|n| put(&format!("b{n:03}"), json!({"n": n}))).collect();
    for batch in [one, many] {
        match store.write_records(acme.id, EMPLOYEE, &batch, &stale, at(2)).await {
            Err(StoreError::IntegrationsChanged { planned, current }) => {
                assert_eq!(planned, known);
                assert!(current > known);
            }
            other => panic!("expected IntegrationsChanged, got {other:?}"),
        }
    }
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "e1").await.unwrap(), Some(existing.clone()));
    assert_eq!(store.get_record(acme.id, EMPLOYEE, "b000").await.unwrap(), None);
    assert_eq!(states(&store, acme.id, existing.id).await, vec![]);

    // Planned with the current version, the write goes through.
    let current = store.integrations_version(acme.id).await.unwrap();
    let fresh = TestPlanner::pending(&[okta], at(3), at(100)).with_integrations_version(current);
    let written = write(&store, acme.id, vec![put("e1", json!({"n": 2}))], &fresh, at(3)).await;
    assert_eq!(written[0].record.version, 2);
}

pub async fn records_by_external_ids_finds_deleted_records_of_one_tenant_and_type(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let planner = TestPlanner::quiet();
    let written =
        write(&store, acme.id, vec![put("e1", json!({"n": 1})), put("e2", json!({"n": 2}))], &planner, at(1)).await;
    write(&store, acme.id, vec![delete("e2")], &planner, at(2)).await;
    store.write_records(acme.id, "contractor", &[put("e1", json!({"c": 1}))], &planner, at(1)).await.unwrap();
    write(&store, globex.id, vec![put("e1", json!({"g": 1}))], &planner, at(1)).await;

    let keys: Vec<String> = ["e2", "e1", "absent", "e1"].iter().map(|k| k.to_string()).collect();
    let mut found = store.records_by_external_ids(acme.id, EMPLOYEE, &keys).await.unwrap();
    found.sort_by_key(|r| r.id);
    let deleted = store.records_by_external_ids(acme.id, EMPLOYEE, &keys[..1]).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        (deleted[0].id, deleted[0].deleted_at),
        (written[1].record.id, Some(at(2))),
        "a deleted record is found"
    );
    assert_eq!(found, vec![written[0].record.clone(), deleted[0].clone()], "each once, of acme's employees only");
    assert_eq!(store.records_by_external_ids(acme.id, EMPLOYEE, &[]).await.unwrap(), vec![]);
    let theirs = store.records_by_external_ids(globex.id, EMPLOYEE, &keys).await.unwrap();
    assert_eq!(theirs.iter().map(|r| &r.fields).collect::<Vec<_>>(), vec![&json!({"g": 1})]);
    let contractors = store.records_by_external_ids(acme.id, "contractor", &keys).await.unwrap();
    assert_eq!(contractors.iter().map(|r| &r.fields).collect::<Vec<_>>(), vec![&json!({"c": 1})]);
}
