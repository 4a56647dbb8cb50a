//! Cases for the console's record search: a record is found by its id or
//! by a string in its fields, ignoring ASCII case, the text taken literally
//! (no `LIKE` wildcard, no JSON punctuation), live records of one tenant and
//! type only, paged by id. What a field's text is: `search_rules`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::support::*;
use crate::Store;

/// Writes employees of `tenant_id` with these ids and fields, at `at(1)`.
async fn employees(store: &Arc<dyn Store>, tenant_id: i64, records: Vec<(&str, Value)>) {
    let writes = records.into_iter().map(|(id, fields)| put(id, fields)).collect();
    write(store, tenant_id, writes, &TestPlanner::quiet(), at(1)).await;
}

/// The external ids a search finds (checked to come in id order), sorted:
/// a batch's new records may take their ids in any order.
async fn found(store: &Arc<dyn Store>, tenant_id: i64, text: &str) -> Vec<String> {
    let records = store.search_records(tenant_id, EMPLOYEE, text, None, 100).await.expect("search_records");
    assert!(records.windows(2).all(|w| w[0].id < w[1].id), "id order");
    let mut ids: Vec<String> = records.into_iter().map(|r| r.external_id).collect();
    ids.sort();
    ids
}

pub async fn search_finds_records_by_id_or_by_a_string_in_their_fields_ignoring_ascii_case(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    employees(
        &store,
        acme.id,
        vec![
            ("e1", json!({ "name": "Ada Lovelace", "title": "Analyst" })),
            ("e2", json!({ "name": "Grace Hopper", "title": "Rear Admiral" })),
            ("ADA-3", json!({ "name": "Charles Babbage" })),
            ("e4", json!({ "name": "Alan Turing", "emails": [{ "type": "work", "value": "alan@ada.example" }] })),
        ],
    )
    .await;

    assert_eq!(found(&store, acme.id, "ada").await, ["ADA-3", "e1", "e4"], "the id, a field, a nested string");
    assert_eq!(found(&store, acme.id, "LOVELACE").await, ["e1"]);
    assert_eq!(found(&store, acme.id, "rEaR aDm").await, ["e2"]);
    assert_eq!(found(&store, acme.id, "a-3").await, ["ADA-3"]);
    assert_eq!(found(&store, acme.id, "Hopper Grace").await, Vec::<String>::new(), "one string contains the text");
    assert_eq!(found(&store, acme.id, "").await.len(), 4, "the empty text is in every record");
    let record = store.search_records(acme.id, EMPLOYEE, "turing", None, 10).await.unwrap().remove(0);
    assert_eq!(Some(record), store.get_record(acme.id, EMPLOYEE, "e4").await.unwrap(), "the record as stored");
}

pub async fn search_takes_the_text_literally(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    employees(
        &store,
        acme.id,
        vec![
            ("e1", json!({ "bonus": "50% off" })),
            ("e2", json!({ "bonus": "500 off" })),
            ("e3", json!({ "login": "a_b" })),
            ("e4", json!({ "login": "axb" })),
            ("e5", json!({ "path": "c:\\home" })),
            ("e6", json!({ "quote": "she said \"hi\"" })),
            ("e7", json!({ "lines": "one\ntwo" })),
            ("e8%", json!({ "n": "x" })),
        ],
    )
    .await;

    assert_eq!(found(&store, acme.id, "50%").await, ["e1"]);
    assert_eq!(found(&store, acme.id, "%").await, ["e1", "e8%"]);
    assert_eq!(found(&store, acme.id, "a_b").await, ["e3"]);
    assert_eq!(found(&store, acme.id, "_").await, ["e3"]);
    assert_eq!(found(&store, acme.id, "\\").await, ["e5"]);
    assert_eq!(found(&store, acme.id, ":\\h").await, ["e5"]);
    // The JSON text of every record holds quotes, colons and braces; only
    // a string holding the text is a match.
    assert_eq!(found(&store, acme.id, "\"").await, ["e6"]);
    assert_eq!(found(&store, acme.id, "said \"hi\"").await, ["e6"]);
    assert_eq!(found(&store, acme.id, "\":\"").await, Vec::<String>::new());
    assert_eq!(found(&store, acme.id, "{").await, Vec::<String>::new());
    assert_eq!(found(&store, acme.id, "one\ntwo").await, ["e7"]);
    assert_eq!(found(&store, acme.id, "\\n").await, Vec::<String>::new(), "a newline is not `\\n`");
}

pub async fn search_leaves_out_keys_numbers_booleans_and_non_ascii_case(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    employees(
        &store,
        acme.id,
        vec![
            ("e1", json!({ "employee_number": 4711, "active": true, "manager": null })),
            ("e2", json!({ "name": "CHLOÉ ÅSTRÖM" })),
            ("e3", json!({ "badge": "4711-B", "team": "active" })),
        ],
    )
    .await;

    assert_eq!(found(&store, acme.id, "employee_number").await, Vec::<String>::new(), "a key is not text");
    assert_eq!(found(&store, acme.id, "4711").await, ["e3"], "a number is not text");
    assert_eq!(found(&store, acme.id, "true").await, Vec::<String>::new());
    assert_eq!(found(&store, acme.id, "null").await, Vec::<String>::new());
    assert_eq!(found(&store, acme.id, "active").await, ["e3"]);
    assert_eq!(found(&store, acme.id, "chloÉ").await, ["e2"], "ASCII letters fold");
    assert_eq!(found(&store, acme.id, "ström").await, Vec::<String>::new(), "Ö and ö are different characters");
    assert_eq!(found(&store, acme.id, "åSTRÖM").await, Vec::<String>::new());
    assert_eq!(found(&store, acme.id, "ÅsTRÖm").await, ["e2"]);
}

pub async fn search_finds_only_live_records_of_the_tenant_and_type(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let planner = TestPlanner::quiet();
    employees(&store, acme.id, vec![("e1", json!({ "name": "Ada" })), ("gone", json!({ "name": "Ada" }))]).await;
    write(&store, acme.id, vec![delete("gone")], &planner, at(2)).await;
    store.write_records(acme.id, "contractor", &[put("c1", json!({ "name": "Ada" }))], &planner, at(2)).await.unwrap();
    employees(&store, globex.id, vec![("g1", json!({ "name": "Ada" }))]).await;

    assert_eq!(found(&store, acme.id, "ada").await, ["e1"]);
    assert_eq!(found(&store, acme.id, "gone").await, Vec::<String>::new(), "a deleted record is not found");
    assert_eq!(found(&store, globex.id, "ada").await, ["g1"]);
    let contractors = store.search_records(acme.id, "contractor", "ada", None, 10).await.unwrap();
    assert_eq!(contractors.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>(), ["c1"]);
    assert_eq!(found(&store, globex.id + 1000, "ada").await, Vec::<String>::new());
}

pub async fn search_pages_by_id_after_the_cursor(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    // Every record's JSON holds the key `name`, so every record is a
    // candidate for "name" and only every 50th has it in a string: a
    // page of results takes reading past many candidates.
    let writes = (0..260)
        .map(|i| {
            let name = if i % 50 == 7 { format!("Nameless {i}") } else { format!("Person {i}") };
            put(&format!("e{i:03}"), json!({ "name": name }))
        })
        .collect();
    write(&store, acme.id, writes, &TestPlanner::quiet(), at(1)).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.search_records(acme.id, EMPLOYEE, "NAME", cursor, 2).await.unwrap();
        assert!(page.len() <= 2, "at most the limit");
        if page.is_empty() {
            break;
        }
        assert!(cursor.is_none_or(|after| page[0].id > after), "after the cursor");
        cursor = Some(page.last().unwrap().id);
        seen.extend(page);
    }
    let ids: Vec<i64> = seen.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
    let mut names: Vec<&str> = seen.iter().map(|r| r.external_id.as_str()).collect();
    names.sort();
    assert_eq!(names, ["e007", "e057", "e107", "e157", "e207", "e257"]);
    assert_eq!(store.search_records(acme.id, EMPLOYEE, "name", None, 0).await.unwrap(), vec![]);
}
