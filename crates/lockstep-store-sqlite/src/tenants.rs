//! Tenants and their admins ([`TenantStore`]).

use async_trait::async_trait;
use lockstep_store::{Admin, NewAdmin, StoreResult, Tenant, TenantStore, Timestamp};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{ms, time};
use crate::{db_error, SqliteStore};

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

fn insert_admin(conn: &Connection, tenant_id: i64, admin_row: &NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    conn.query_row(
        &format!("INSERT INTO admins (tenant_id, email, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {ADMIN_COLUMNS}"),
        params![tenant_id, admin_row.email, admin_row.name, admin_row.token_hash, ms(now)],
        admin,
    )
    .map_err(db_error)
}

fn create_tenant(
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

fn get_tenant(conn: &Connection, tenant_id: i64) -> StoreResult<Option<Tenant>> {
    conn.query_row("SELECT id, name, created_at FROM tenants WHERE id = ?1", [tenant_id], tenant)
        .optional()
        .map_err(db_error)
}

fn create_admin(conn: &mut Connection, tenant_id: i64, new: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    insert_admin(conn, tenant_id, &new, now)
}

fn list_admins(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<Admin>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = ?1 ORDER BY id"))
        .map_err(db_error)?;
    let rows = stmt.query_map([tenant_id], admin).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn admin_by_token_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<Admin>> {
    conn.prepare_cached(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE token_hash = ?1"))
        .and_then(|mut stmt| stmt.query_row([token_hash], admin).optional())
        .map_err(db_error)
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, name: &str, admin: NewAdmin, now: Timestamp) -> StoreResult<(Tenant, Admin)> {
        self.write(|conn| create_tenant(conn, name, admin, now))
    }

    async fn get_tenant(&self, tenant_id: i64) -> StoreResult<Option<Tenant>> {
        self.read(|conn| get_tenant(conn, tenant_id))
    }

    async fn create_admin(&self, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
        self.write(|conn| create_admin(conn, tenant_id, admin, now))
    }

    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>> {
        self.read(|conn| list_admins(conn, tenant_id))
    }

    async fn admin_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Admin>> {
        self.read(|conn| admin_by_token_hash(conn, token_hash))
    }
}
