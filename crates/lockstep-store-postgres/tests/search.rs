//! Beyond the conformance suite: a search reads a few thousand records per
//! statement, so one that keeps few of its candidates has to read on, from
//! where the last statement stopped, past more records than the suite
//! writes.

mod support;

use std::sync::Arc;

use lockstep_store::conformance::support::{tenant, EMPLOYEE};
use lockstep_store::Store;
use lockstep_store_postgres::PgStore;

#[tokio::test]
async fn a_search_reads_on_past_many_records_that_hold_the_text_only_in_a_key() {
    let url = support::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    let (acme, _) = tenant(&store, "acme").await;
    // Every record's JSON holds the key "name"; three hold it in a string.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO records (tenant_id, record_type, external_id, fields, version, created_at, updated_at)
         SELECT $1, 'employee', format('e%s', lpad(i::text, 5, '0')),
                jsonb_build_object('name', CASE WHEN i IN (3, 7500, 11999) THEN 'Nameless' ELSE 'Person' END),
                1, now(), now()
         FROM generate_series(1, 12000) AS i ORDER BY i",
    )
    .bind(acme.id)
    .execute(&pool)
    .await
    .unwrap();

    let page = store.search_records(acme.id, EMPLOYEE, "name", None, 2).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(ids, ["e00003", "e07500"]);
    let rest = store.search_records(acme.id, EMPLOYEE, "NAME", Some(page[1].id), 2).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>(), ["e11999"]);
    assert!(store.search_records(acme.id, EMPLOYEE, "name", Some(rest[0].id), 2).await.unwrap().is_empty());
    assert!(store.search_records(acme.id, EMPLOYEE, "nobody", None, 2).await.unwrap().is_empty());
}
