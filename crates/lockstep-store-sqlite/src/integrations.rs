//! A tenant's integrations ([`IntegrationStore`]). Every change of an
//! integration moves the tenant's `integrations_version` on in the same
//! transaction (migration 0003).

use async_trait::async_trait;
use lockstep_store::{Integration, IntegrationStore, NewIntegration, StoreResult, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{json, ms, time};
use crate::{db_error, SqliteStore};

const INTEGRATION_COLUMNS: &str = "id, tenant_id, name, record_type, spec, created_at, updated_at";

fn integration(row: &Row<'_>) -> rusqlite::Result<Integration> {
    Ok(Integration {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        name: row.get(2)?,
        record_type: row.get(3)?,
        spec: json(&row.get::<_, String>(4)?)?,
        created_at: time(row.get(5)?)?,
        updated_at: time(row.get(6)?)?,
    })
}

fn create_integration(
    conn: &mut Connection,
    tenant_id: i64,
    new: NewIntegration,
    now: Timestamp,
) -> StoreResult<Integration> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let created = tx
        .query_row(
            &format!("INSERT INTO integrations (tenant_id, name, record_type, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING {INTEGRATION_COLUMNS}"),
            params![tenant_id, new.name, new.record_type, new.spec.to_string(), ms(now)],
            integration,
        )
        .map_err(db_error)?;
    bump_integrations_version(&tx, tenant_id)?;
    tx.commit().map_err(db_error)?;
    Ok(created)
}

fn get_integration(conn: &Connection, tenant_id: i64, integration_id: i64) -> StoreResult<Option<Integration>> {
    conn.prepare_cached(&format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 AND id = ?2"))
        .and_then(|mut stmt| stmt.query_row([tenant_id, integration_id], integration).optional())
        .map_err(db_error)
}

fn list_integrations(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<Integration>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 ORDER BY id"))
        .map_err(db_error)?;
    let rows = stmt.query_map([tenant_id], integration).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn update_integration(
    conn: &mut Connection,
    tenant_id: i64,
    integration_id: i64,
    new: NewIntegration,
    now: Timestamp,
) -> StoreResult<Option<Integration>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let updated = tx
        .query_row(
            &format!("UPDATE integrations SET name = ?3, record_type = ?4, spec = ?5, updated_at = ?6 WHERE tenant_id = ?1 AND id = ?2 RETURNING {INTEGRATION_COLUMNS}"),
            params![tenant_id, integration_id, new.name, new.record_type, new.spec.to_string(), ms(now)],
            integration,
        )
        .optional()
        .map_err(db_error)?;
    if updated.is_some() {
        bump_integrations_version(&tx, tenant_id)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(updated)
}

fn delete_integration(conn: &mut Connection, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let deleted = tx
        .execute("DELETE FROM integrations WHERE tenant_id = ?1 AND id = ?2", [tenant_id, integration_id])
        .map_err(db_error)?;
    if deleted > 0 {
        tx.execute("DELETE FROM sync_states WHERE integration_id = ?1", [integration_id]).map_err(db_error)?;
        bump_integrations_version(&tx, tenant_id)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(deleted > 0)
}

fn bump_integrations_version(conn: &Connection, tenant_id: i64) -> StoreResult<()> {
    conn.execute("UPDATE tenants SET integrations_version = integrations_version + 1 WHERE id = ?1", [tenant_id])
        .map_err(db_error)?;
    Ok(())
}

/// The tenant's integrations version (0 when the tenant does not exist).
pub(crate) fn integrations_version(conn: &Connection, tenant_id: i64) -> StoreResult<i64> {
    conn.prepare_cached("SELECT integrations_version FROM tenants WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([tenant_id], |row| row.get::<_, i64>(0)).optional())
        .map(Option::unwrap_or_default)
        .map_err(db_error)
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration(
        &self,
        tenant_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Integration> {
        self.write(|conn| create_integration(conn, tenant_id, integration, now))
    }

    async fn get_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<Option<Integration>> {
        self.read(|conn| get_integration(conn, tenant_id, integration_id))
    }

    async fn list_integrations(&self, tenant_id: i64) -> StoreResult<Vec<Integration>> {
        self.read(|conn| list_integrations(conn, tenant_id))
    }

    async fn update_integration(
        &self,
        tenant_id: i64,
        integration_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>> {
        self.write(|conn| update_integration(conn, tenant_id, integration_id, integration, now))
    }

    async fn delete_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
        self.write(|conn| delete_integration(conn, tenant_id, integration_id))
    }

    async fn integrations_version(&self, tenant_id: i64) -> StoreResult<i64> {
        self.read(|conn| integrations_version(conn, tenant_id))
    }
}
