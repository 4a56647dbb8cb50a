//! The embedded schema migrations, applied in order and recorded in
//! `schema_migrations`, each in its own transaction.

use lockstep_store::StoreResult;
use rusqlite::Connection;

use crate::db_error;

/// Every migration, in order. Append only; never edit one that shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_sync_states_wake_at.sql")),
    (3, include_str!("../migrations/0003_integrations_version.sql")),
    (4, include_str!("../migrations/0004_admin_tokens.sql")),
    (5, include_str!("../migrations/0005_sync_status_counts.sql")),
    (6, include_str!("../migrations/0006_jobs.sql")),
    (7, include_str!("../migrations/0007_operations.sql")),
    (8, include_str!("../migrations/0008_notifications.sql")),
    (9, include_str!("../migrations/0009_console_sessions.sql")),
    (10, include_str!("../migrations/0010_sync_states_by_integration_status.sql")),
    (11, include_str!("../migrations/0011_records_by_type_and_id.sql")),
];

/// Applies the migrations not applied yet.
pub fn apply(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(db_error)?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_error)?;
        let applied: bool = tx
            .query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| r.get(0))
            .map_err(db_error)?;
        if !applied {
            tx.execute_batch(sql).map_err(db_error)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, chrono::Utc::now().timestamp_millis()],
            )
            .map_err(db_error)?;
            tracing::info!(version, "applied SQLite migration");
        }
        tx.commit().map_err(db_error)?;
    }
    Ok(())
}
