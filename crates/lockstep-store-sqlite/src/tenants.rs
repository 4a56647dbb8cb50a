//! Tenants, their admins and the admins' bearer tokens ([`TenantStore`]).
//!
//! An admin is created with its first token in one transaction, so there is
//! never an admin without a way to sign in. Tokens are kept by hash
//! (migration 0004); every token call but the lookup by hash is scoped by
//! tenant.

use async_trait::async_trait;
use lockstep_store::{Admin, AdminToken, NewAdmin, NewToken, StoreResult, Tenant, TenantStore, Timestamp, TokenOwner};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{ms, opt_time, time};
use crate::{db_error, SqliteStore};

fn tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant { id: row.get(0)?, name: row.get(1)?, created_at: time(row.get(2)?)? })
}

pub(crate) const ADMIN_COLUMNS: &str = "id, tenant_id, email, name, created_at";

/// Reads [`ADMIN_COLUMNS`] starting at column `at`.
pub(crate) fn admin_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Admin> {
    Ok(Admin {
        id: row.get(at)?,
        tenant_id: row.get(at + 1)?,
        email: row.get(at + 2)?,
        name: row.get(at + 3)?,
        created_at: time(row.get(at + 4)?)?,
    })
}

fn admin(row: &Row<'_>) -> rusqlite::Result<Admin> {
    admin_at(row, 0)
}

pub(crate) const TOKEN_COLUMNS: &str = "id, tenant_id, admin_id, label, prefix, created_at, expires_at, revoked_at";

/// Reads [`TOKEN_COLUMNS`] starting at column `at`.
pub(crate) fn token_at(row: &Row<'_>, at: usize) -> rusqlite::Result<AdminToken> {
    Ok(AdminToken {
        id: row.get(at)?,
        tenant_id: row.get(at + 1)?,
        admin_id: row.get(at + 2)?,
        label: row.get(at + 3)?,
        prefix: row.get(at + 4)?,
        created_at: time(row.get(at + 5)?)?,
        expires_at: opt_time(row.get(at + 6)?)?,
        revoked_at: opt_time(row.get(at + 7)?)?,
    })
}

fn token(row: &Row<'_>) -> rusqlite::Result<AdminToken> {
    token_at(row, 0)
}

/// `columns` (a list like [`TOKEN_COLUMNS`]) of the table aliased `alias`.
pub(crate) fn prefixed(columns: &str, alias: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

fn insert_token(
    conn: &Connection,
    tenant_id: i64,
    admin_id: i64,
    new: &NewToken,
    now: Timestamp,
) -> StoreResult<AdminToken> {
    conn.prepare_cached(&format!(
        "INSERT INTO admin_tokens (tenant_id, admin_id, token_hash, prefix, label, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {TOKEN_COLUMNS}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![tenant_id, admin_id, new.token_hash, new.prefix, new.label, ms(now), new.expires_at.map(ms)],
            token,
        )
    })
    .map_err(db_error)
}

/// Inserts an admin and its first token, inside the caller's transaction.
fn insert_admin(conn: &Connection, tenant_id: i64, new: &NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    let created = conn
        .query_row(
            &format!(
                "INSERT INTO admins (tenant_id, email, name, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING {ADMIN_COLUMNS}"
            ),
            params![tenant_id, new.email, new.name, ms(now)],
            admin,
        )
        .map_err(db_error)?;
    insert_token(conn, tenant_id, created.id, &new.token, now)?;
    Ok(created)
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
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let created = insert_admin(&tx, tenant_id, &new, now)?;
    tx.commit().map_err(db_error)?;
    Ok(created)
}

fn list_admins(conn: &Connection, tenant_id: i64) -> StoreResult<Vec<Admin>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = ?1 ORDER BY id"))
        .map_err(db_error)?;
    let rows = stmt.query_map([tenant_id], admin).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn create_token(
    conn: &mut Connection,
    tenant_id: i64,
    admin_id: i64,
    new: NewToken,
    now: Timestamp,
) -> StoreResult<Option<AdminToken>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let admin_of_tenant: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM admins WHERE id = ?1 AND tenant_id = ?2)",
            [admin_id, tenant_id],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    if !admin_of_tenant {
        return Ok(None);
    }
    let created = insert_token(&tx, tenant_id, admin_id, &new, now)?;
    tx.commit().map_err(db_error)?;
    Ok(Some(created))
}

fn list_tokens(conn: &Connection, tenant_id: i64, admin_id: Option<i64>) -> StoreResult<Vec<AdminToken>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_tokens
             WHERE tenant_id = ?1 AND (?2 IS NULL OR admin_id = ?2) ORDER BY id"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map(params![tenant_id, admin_id], token).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

fn get_token(conn: &Connection, tenant_id: i64, token_id: i64) -> StoreResult<Option<AdminToken>> {
    conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE tenant_id = ?1 AND id = ?2"))
        .and_then(|mut stmt| stmt.query_row([tenant_id, token_id], token).optional())
        .map_err(db_error)
}

fn revoke_token(
    conn: &mut Connection,
    tenant_id: i64,
    token_id: i64,
    now: Timestamp,
) -> StoreResult<Option<AdminToken>> {
    conn.prepare_cached(&format!(
        "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE tenant_id = ?1 AND id = ?2 RETURNING {TOKEN_COLUMNS}"
    ))
    .and_then(|mut stmt| stmt.query_row(params![tenant_id, token_id, ms(now)], token).optional())
    .map_err(db_error)
}

/// One probe of the unique index on `token_hash`, then the admin by its key.
fn token_by_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
    let (token_columns, admin_columns) = (prefixed(TOKEN_COLUMNS, "t"), prefixed(ADMIN_COLUMNS, "a"));
    conn.prepare_cached(&format!(
        "SELECT {token_columns}, {admin_columns} FROM admin_tokens AS t
         JOIN admins AS a ON a.id = t.admin_id WHERE t.token_hash = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([token_hash], |row| Ok(TokenOwner { token: token(row)?, admin: admin_at(row, 8)? })).optional()
    })
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

    async fn create_token(
        &self,
        tenant_id: i64,
        admin_id: i64,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Option<AdminToken>> {
        self.write(|conn| create_token(conn, tenant_id, admin_id, token, now))
    }

    async fn list_tokens(&self, tenant_id: i64, admin_id: Option<i64>) -> StoreResult<Vec<AdminToken>> {
        self.read(|conn| list_tokens(conn, tenant_id, admin_id))
    }

    async fn get_token(&self, tenant_id: i64, token_id: i64) -> StoreResult<Option<AdminToken>> {
        self.read(|conn| get_token(conn, tenant_id, token_id))
    }

    async fn revoke_token(&self, tenant_id: i64, token_id: i64, now: Timestamp) -> StoreResult<Option<AdminToken>> {
        self.write(|conn| revoke_token(conn, tenant_id, token_id, now))
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
        self.read(|conn| token_by_hash(conn, token_hash))
    }
}
