//! Unit tests of the directory ([`super`]): rendering, `userName`
//! uniqueness, and filtered reads through the indexes, which must answer
//! exactly what evaluating the filter on every User answers, however the
//! Users were created, renamed or deleted.

use serde_json::{json, Map, Value};

use super::*;
use crate::patch;

fn attrs(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn filter(text: &str) -> Filter {
    Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// What evaluating `filter` on every User, in creation order, selects.
fn by_scan(directory: &Directory, text: &str) -> Vec<Value> {
    let filter = filter(text);
    directory.all().map(|user| directory.render(user)).filter(|user| filter.matches(user)).collect()
}

fn user_names(users: &[Value]) -> Vec<&str> {
    users.iter().map(|user| user["userName"].as_str().unwrap_or_default()).collect()
}

/// Users with mixed-case names, a shared externalId and one without any.
fn sample() -> Directory {
    let mut directory = Directory::new("http://127.0.0.1:1".into());
    for user in [
        json!({"userName": "Ada@Example.com", "externalId": "E-1", "title": "CTO"}),
        json!({"userName": "bob", "externalId": "E-2"}),
        json!({"userName": "Cy", "externalId": "E-1"}),
        json!({"userName": "dee"}),
        json!({"userName": "ÉLODIE", "externalId": "e-2"}),
    ] {
        directory.create(attrs(user), &[]).expect("created");
    }
    directory
}

fn id_of(directory: &Directory, user_name: &str) -> String {
    directory.by_user_name(user_name).expect("the user").id.clone()
}

/// Every filter's indexed answer equals the scan's, and identifier filters
/// examine no more Users than they name.
fn assert_agrees_with_scan(directory: &Directory, filters: &[String]) {
    for text in filters {
        let selection = directory.select(&filter(text));
        assert_eq!(selection.users, by_scan(directory, text), "{text}");
        if let Some(candidates) = directory.indexes.candidates(&filter(text)) {
            assert!(candidates.len() <= 3, "{text} names {candidates:?}");
            assert_eq!(selection.examined, candidates.len(), "{text}");
        } else {
            assert_eq!(selection.examined, directory.len(), "{text}");
        }
    }
}

/// Filters of every kind, indexed or not; `id eq` names the first User.
fn filters(directory: &Directory) -> Vec<String> {
    let ada = directory.all().next().expect("a user").id.clone();
    vec![
        r#"userName eq "ada@example.com""#.into(),
        r#"USERNAME eq "ADA@EXAMPLE.COM""#.into(),
        r#"userName eq "élodie""#.into(),
        r#"userName eq "nobody""#.into(),
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BOB""#.into(),
        r#"externalId eq "E-1""#.into(),
        r#"externalId eq "e-1""#.into(),
        r#"externalId eq "E-2""#.into(),
        format!(r#"id eq "{ada}""#),
        format!(r#"id eq "{}""#, ada.to_uppercase()),
        r#"externalId eq "E-1" and title eq "cto""#.into(),
        r#"externalId eq "E-1" and userName eq "cy""#.into(),
        r#"userName eq "bob" or externalId eq "E-1""#.into(),
        r#"userName eq "bob" or title pr"#.into(),
        r#"userName sw "a""#.into(),
        r#"not (externalId eq "E-1")"#.into(),
        "externalId pr".into(),
    ]
}

#[test]
fn created_users_get_id_meta_and_no_password_on_render() {
    let mut directory = Directory::new("http://127.0.0.1:1".into());
    let user = directory.create(attrs(json!({"userName": "ada", "password": "s3cret"})), &[]).expect("created").clone();
    let rendered = directory.render(&user);
    assert_eq!(rendered["meta"]["version"], "W/\"1\"");
    assert_eq!(rendered["meta"]["location"], format!("http://127.0.0.1:1/Users/{}", user.id));
    assert!(rendered.get("password").is_none());
    assert_eq!(rendered["schemas"], json!([USER_SCHEMA]));
}

#[test]
fn user_names_are_unique_ignoring_case() {
    let mut directory = Directory::new(String::new());
    directory.create(attrs(json!({"userName": "ada"})), &[]).expect("first");
    let err = directory.create(attrs(json!({"userName": "ADA"})), &[]).expect_err("taken");
    assert_eq!((err.status, err.scim_type), (StatusCode::CONFLICT, Some("uniqueness")));
    let bob = directory.create(attrs(json!({"userName": "bob"})), &[]).expect("second").id;
    let err = directory.update(&bob, attrs(json!({"userName": "Ada"})), &[]).expect_err("taken");
    assert_eq!(err.status, StatusCode::CONFLICT);
    directory.update(&bob, attrs(json!({"userName": "BOB"})), &[]).expect("its own name, recased");
}

#[test]
fn a_seed_stores_every_user_or_none() {
    let mut directory = Directory::new(String::new());
    directory.create(attrs(json!({"userName": "ada"})), &[]).expect("first");
    let seed = |names: &[&str]| names.iter().map(|n| attrs(json!({"userName": n, "externalId": n}))).collect();
    assert_eq!(directory.create_all(seed(&["bob", "cy"])), Ok(2));
    let (position, error) = directory.create_all(seed(&["dee", "eve", "ADA", "fay"])).expect_err("ada is taken");
    assert_eq!((position, error.status), (2, StatusCode::CONFLICT));
    assert_eq!(directory.len(), 3, "the users before the refused one are undone");
    assert_agrees_with_scan(&directory, &[r#"userName eq "dee""#.into(), r#"externalId eq "eve""#.into()]);
    assert!(directory.by_user_name("dee").is_none());
}

/// Every page of `size` from the start, as the listing pages through.
fn pages(directory: &mut Directory, size: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut offset = 0;
    loop {
        let page = directory.page(offset, size);
        if page.is_empty() {
            return pages;
        }
        offset += page.len();
        pages.push(page);
    }
}

#[test]
fn pages_are_the_users_in_creation_order_whatever_was_written_between_them() {
    let mut directory = Directory::new(String::new());
    for n in 0..50 {
        directory.create(attrs(json!({"userName": format!("u{n:02}")})), &[]).expect("created");
    }
    let by_skip = |directory: &Directory, offset: usize, size: usize| -> Vec<Value> {
        directory.all().skip(offset).take(size).map(|user| directory.render(user)).collect()
    };
    let all = pages(&mut directory, 7);
    assert_eq!(all.len(), 8);
    assert_eq!(all.concat(), by_skip(&directory, 0, 50));
    // Writes between two pages of one walk: an update, a create and a delete.
    let first = directory.page(0, 10);
    let u05 = id_of(&directory, "u05");
    directory.update(&u05, attrs(json!({"userName": "u05b"})), &[]).expect("updated");
    directory.create(attrs(json!({"userName": "u50"})), &[]).expect("created");
    assert_eq!(directory.page(10, 10), by_skip(&directory, 10, 10), "after an update and a create");
    directory.delete(&id_of(&directory, "u03"));
    assert_eq!(directory.page(20, 10), by_skip(&directory, 20, 10), "after a delete");
    assert_eq!(first.len(), 10);
    // Two walks at once, and a page asked for again.
    let (mut a, mut b) = (0, 0);
    while a < directory.len() {
        assert_eq!(directory.page(a, 4), by_skip(&directory, a, 4));
        assert_eq!(directory.page(b, 3), by_skip(&directory, b, 3));
        assert_eq!(directory.page(b, 3), by_skip(&directory, b, 3));
        (a, b) = (a + 4, b + 3);
    }
    assert_eq!(directory.page(0, 0), Vec::<Value>::new());
    assert_eq!(directory.page(500, 10), Vec::<Value>::new());
}

#[test]
fn updates_bump_the_version_and_keep_the_id() {
    let mut directory = Directory::new(String::new());
    let id = directory.create(attrs(json!({"userName": "ada"})), &[]).expect("created").id.clone();
    let updated = directory.update(&id, attrs(json!({"userName": "ada2"})), &[]).expect("updated");
    assert_eq!((updated.id.as_str(), updated.version), (id.as_str(), 2));
    assert!(directory.delete(&id));
    assert!(!directory.delete(&id));
}

#[test]
fn indexed_lookups_select_what_the_filter_selects() {
    let directory = sample();
    assert_agrees_with_scan(&directory, &filters(&directory));
    let found = directory.select(&filter(r#"userName eq "ADA@example.COM""#));
    assert_eq!((user_names(&found.users), found.examined), (vec!["Ada@Example.com"], 1));
    let found = directory.select(&filter(r#"externalId eq "E-1""#));
    assert_eq!(user_names(&found.users), vec!["Ada@Example.com", "Cy"], "in creation order");
}

#[test]
fn renaming_through_put_moves_user_name_and_external_id_in_the_indexes() {
    let mut directory = sample();
    let ada = id_of(&directory, "ada@example.com");
    let renamed = attrs(json!({"userName": "Ada.Lovelace", "externalId": "E-9"}));
    directory.update(&ada, renamed, &[]).expect("renamed");
    assert_agrees_with_scan(&directory, &filters(&directory));
    assert!(directory.select(&filter(r#"userName eq "ada@example.com""#)).users.is_empty());
    let found = directory.select(&filter(r#"userName eq "ada.lovelace" and externalId eq "E-9""#));
    assert_eq!(user_names(&found.users), vec!["Ada.Lovelace"]);
    assert_eq!(user_names(&directory.select(&filter(r#"externalId eq "E-1""#)).users), vec!["Cy"]);
    // The old name is free again; the new one is taken.
    directory.create(attrs(json!({"userName": "ADA@example.com"})), &[]).expect("the old name is free");
    assert!(directory.create(attrs(json!({"userName": "ada.LOVELACE"})), &[]).is_err());
}

#[test]
fn renaming_through_patch_moves_user_name_and_external_id_in_the_indexes() {
    let mut directory = sample();
    let bob = id_of(&directory, "bob");
    let operations = patch::parse(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "userName", "value": "Robert"},
            {"op": "remove", "path": "externalId"},
        ],
    }))
    .expect("a patch");
    let mut attributes = directory.get(&bob).expect("bob").attributes.clone();
    patch::apply(&mut attributes, &operations).expect("applied");
    directory.update(&bob, attributes, &[]).expect("patched");
    assert_agrees_with_scan(&directory, &filters(&directory));
    assert_eq!(user_names(&directory.select(&filter(r#"userName eq "ROBERT""#)).users), vec!["Robert"]);
    assert!(directory.select(&filter(r#"userName eq "bob""#)).users.is_empty());
    assert!(directory.select(&filter(r#"externalId eq "E-2""#)).users.is_empty());
}

#[test]
fn deleting_a_user_removes_it_from_every_index() {
    let mut directory = sample();
    let cy = id_of(&directory, "cy");
    assert!(directory.delete(&cy));
    assert_agrees_with_scan(&directory, &filters(&directory));
    assert!(directory.get(&cy).is_none());
    assert!(directory.select(&filter(&format!(r#"id eq "{cy}""#))).users.is_empty());
    assert!(directory.select(&filter(r#"userName eq "cy""#)).users.is_empty());
    assert_eq!(user_names(&directory.select(&filter(r#"externalId eq "E-1""#)).users), vec!["Ada@Example.com"]);
    directory.create(attrs(json!({"userName": "CY"})), &[]).expect("the name is free again");
}

/// Speed without a stopwatch: a look-up among 200,000 Users evaluates the
/// filter on the one User it finds, never on the others.
#[test]
fn a_lookup_among_200_000_users_examines_only_the_users_it_finds() {
    let mut directory = Directory::new(String::new());
    for n in 0..200_000 {
        directory
            .create(
                attrs(json!({"userName": format!("Person{n}@Bench.example"), "externalId": format!("emp-{n}")})),
                &[],
            )
            .expect("created");
    }
    let id = id_of(&directory, "person123456@bench.example");
    for text in [
        r#"externalId eq "emp-123456""#.to_string(),
        r#"userName eq "PERSON123456@bench.example""#.to_string(),
        format!(r#"id eq "{id}""#),
    ] {
        let found = directory.select(&filter(&text));
        assert_eq!((user_names(&found.users), found.examined), (vec!["Person123456@Bench.example"], 1), "{text}");
    }
    let missing = directory.select(&filter(r#"externalId eq "emp-200000""#));
    assert_eq!((missing.users.len(), missing.examined), (0, 0));
}
