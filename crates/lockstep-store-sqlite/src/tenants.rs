//! Tenants, their admins, and their integrations. Every change of an
//! integration moves the tenant's `integrations_version` on in the same
//! transaction (migration 0003).

use lockstep_store::{Admin, Integration, NewAdmin, NewIntegration, StoreResult, Tenant, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{json, ms, time};
use crate::db_error;

fn tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant { id: row.get(0)?, name: row.get(1)?, created_at: time(row.get(2)?)? })
}

fn admin(row: &Row<'_>) -> rusqlite::Result<Admin> {
    Ok(Admin {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        email: row.get(2)?,
        name: row.get(3)?,
        created_at: time(row.get(4)?)?,
    })
}

const ADMIN_COLUMNS: &str = "id, tenant_id, email, name, created_at";
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

fn insert_admin(conn: &Connection, tenant_id: i64, admin_row: &NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    conn.query_row(
        &format!("INSERT INTO admins (tenant_id, email, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {ADMIN_COLUMNS}"),
        params![tenant_id, admin_row.email, admin_row.name, admin_row.token_hash, ms(now)],
        admin,
    )
    .map_err(db_error)
}

pub fn create_tenant(
    conn: &mut Connection,
    name: &str,
    first_admin: NewAdmin,
    now: Timestamp,
) -> StoreResult<(Tenant, Admin)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let created = tx
        .query_row(
            "INSERT INTO tenants (name, created_at) VALUES (?1, ?2) RETURNING id, name, created_at",
            params![name, ms(now)],
            tenant,
        )
        .map_err(db_error)?;
    let admin_row = insert_admin(&tx, created.id, &first_admin, now)?;
    tx.commit().map_err(db_error)?;
    Ok((created, admin_row))
}

pub fn get_tenant(conn: &Connection, tenant_id: i64) -> StoreResult<Option<Tenant>> {
    conn.query_row("SELECT id, name, created_at FROM tenants WHERE id = ?1", [tenant_id], tenant)
        .optional()
        .map_err(db_error)
}

pub fn create_admin(conn: &mut Connection, tenant_id: i64, new: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    insert_admin(conn, tenant_id, &new, now)
}

pub fn list_admins(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<Admin>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = ?1 ORDER BY id"))
        .map_err(db_error)?;
    let rows = stmt.query_map([tenant_id], admin).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

pub fn admin_by_token_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<Admin>> {
    conn.prepare_cached(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE token_hash = ?1"))
        .and_then(|mut stmt| stmt.query_row([token_hash], admin).optional())
        .map_err(db_error)
}

pub fn create_integration(
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

pub fn get_integration(conn: &Connection, tenant_id: i64, integration_id: i64) -> StoreResult<Option<Integration>> {
    conn.prepare_cached(&format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 AND id = ?2"))
        .and_then(|mut stmt| stmt.query_row([tenant_id, integration_id], integration).optional())
        .map_err(db_error)
}

pub fn list_integrations(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<Integration>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 ORDER BY id"))
        .map_err(db_error)?;
    let rows = stmt.query_map([tenant_id], integration).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

pub fn update_integration(
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

pub fn delete_integration(conn: &mut Connection, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
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
pub fn integrations_version(conn: &Connection, tenant_id: i64) -> StoreResult<i64> {
    conn.prepare_cached("SELECT integrations_version FROM tenants WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([tenant_id], |row| row.get::<_, i64>(0)).optional())
        .map(Option::unwrap_or_default)
        .map_err(db_error)
}
