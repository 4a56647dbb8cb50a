//! Upgrading a database that an earlier version wrote: admins' tokens move
//! to their own table and keep working, and the status counts start from
//! the states already stored.

mod support;

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use lockstep_store::conformance::support::{new_admin, token_hash};
use lockstep_store::{Store, SyncQueue, SyncStatus, TenantStore};
use lockstep_store_postgres::PgStore;
use support::fresh_database;

/// The last migration before admin tokens.
const BEFORE_TOKENS: i64 = 7;

#[tokio::test]
async fn tokens_and_states_of_an_earlier_version_survive_the_upgrade() {
    let url = fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut earlier = sqlx::migrate!("./migrations");
    earlier.migrations =
        Cow::Owned(earlier.migrations.iter().filter(|m| m.version <= BEFORE_TOKENS).cloned().collect());
    earlier.run(&pool).await.unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO tenants (id, name, created_at) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', '2030-01-01Z');
         INSERT INTO admins (id, tenant_id, email, name, token_hash, created_at) OVERRIDING SYSTEM VALUE
             VALUES (1, 1, 'ada@acme.test', 'Ada', '{ada}', '2030-01-01Z'),
                    (7, 1, 'grace@acme.test', 'Grace', '{grace}', '2030-01-02Z');
         INSERT INTO sync_states (record_id, integration_id, tenant_id, status, updated_at)
             VALUES (1, 1, 1, 'synced', now()), (2, 1, 1, 'synced', now()), (3, 1, 1, 'sync_failed', now());
         SELECT setval(pg_get_serial_sequence('tenants', 'id'), 1), setval(pg_get_serial_sequence('admins', 'id'), 7);",
        ada = token_hash("ada"),
        grace = token_hash("grace"),
    ))
    .execute(&pool)
    .await
    .unwrap();

    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();

    let found = store.token_by_hash(&token_hash("grace")).await.unwrap().expect("grace's token still works");
    assert_eq!((found.admin.id, found.admin.email.as_str()), (7, "grace@acme.test"));
    assert_eq!(found.token.created_at, Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap(), "made with the admin");
    assert_eq!((found.token.prefix, found.token.label, found.token.expires_at), (None, None, None));
    assert_eq!(store.list_tokens(1, None).await.unwrap().len(), 2);
    // An admin made now gets its first token the new way.
    let mut eve = new_admin("eve@acme.test");
    eve.token.token_hash = token_hash("eve");
    store.create_admin(1, eve, Utc::now()).await.unwrap();
    assert!(store.token_by_hash(&token_hash("eve")).await.unwrap().is_some());

    let counts = store.sync_status_counts().await.unwrap();
    assert!(counts.contains(&(SyncStatus::Synced, 2)) && counts.contains(&(SyncStatus::Failed, 1)), "{counts:?}");
}
