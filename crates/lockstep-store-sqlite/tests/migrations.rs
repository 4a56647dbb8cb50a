//! Upgrading a database that an earlier version wrote: admins' tokens move
//! to their own table and keep working, and the status counts start from
//! the states already stored.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use lockstep_store::conformance::support::{new_admin, new_token, token_hash};
use lockstep_store::{Store, SyncStatus};
use lockstep_store_sqlite::SqliteStore;
use rusqlite::Connection;

/// The migrations an installation from before admin tokens had applied.
const BEFORE_TOKENS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_sync_states_wake_at.sql")),
    (3, include_str!("../migrations/0003_integrations_version.sql")),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_states_of_an_earlier_version_survive_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lockstep.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .unwrap();
        for (version, sql) in BEFORE_TOKENS {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version]).unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO tenants (id, name, created_at) VALUES (1, 'Acme', 1000);
             INSERT INTO admins (id, tenant_id, email, name, token_hash, created_at)
                 VALUES (1, 1, 'ada@acme.test', 'Ada', '{ada}', 1000), (7, 1, 'grace@acme.test', 'Grace', '{grace}', 2000);
             INSERT INTO integrations (id, tenant_id, name, record_type, spec, created_at, updated_at)
                 VALUES (1, 1, 'Okta', 'employee', '{{}}', 1000, 1000);
             INSERT INTO records (id, tenant_id, record_type, external_id, fields, version, created_at, updated_at)
                 VALUES (1, 1, 'employee', 'e1', '{{}}', 1, 1000, 1000), (2, 1, 'employee', 'e2', '{{}}', 1, 1000, 1000),
                        (3, 1, 'employee', 'e3', '{{}}', 1, 1000, 1000);
             INSERT INTO sync_states (record_id, integration_id, tenant_id, status, updated_at)
                 VALUES (1, 1, 1, 'synced', 1000), (2, 1, 1, 'synced', 1000), (3, 1, 1, 'sync_failed', 1000);",
            ada = token_hash("ada"),
            grace = token_hash("grace"),
        ))
        .unwrap();
    }

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path.to_str().unwrap()).await.unwrap());
    store.migrate().await.unwrap();

    let found = store.token_by_hash(&token_hash("grace")).await.unwrap().expect("grace's token still works");
    assert_eq!((found.admin.id, found.admin.email.as_str()), (7, "grace@acme.test"));
    assert_eq!(found.token.created_at, Utc.timestamp_millis_opt(2000).unwrap(), "made when the admin was");
    assert_eq!((found.token.prefix, found.token.label, found.token.expires_at), (None, None, None));
    assert_eq!(store.list_tokens(1, None).await.unwrap().len(), 2);

    let added = store.create_admin(1, new_admin("eve@acme.test"), Utc::now()).await.unwrap();
    assert!(added.id > 7, "admin ids go on from where they were: {}", added.id);
    let token = store.create_token(1, 1, new_token("ada's second"), Utc::now()).await.unwrap();
    assert!(token.is_some(), "the rebuilt admins table is the one tokens refer to");

    let counts = store.sync_status_counts().await.unwrap();
    assert!(counts.contains(&(SyncStatus::Synced, 2)) && counts.contains(&(SyncStatus::Failed, 1)), "{counts:?}");
}
