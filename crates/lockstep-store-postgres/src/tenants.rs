//! Tenants, their admins and the admins' bearer tokens.
//!
//! An admin's email is unique within its tenant and a token's hash across
//! all tenants (a bearer token must name one admin); both are unique
//! constraints, reported as `Conflict`. An admin is created with its first
//! token in one transaction. Tokens are kept by hash (migration 0008);
//! every token call but the lookup by hash is scoped by tenant.

use async_trait::async_trait;
use lockstep_store::{Admin, AdminToken, NewAdmin, NewToken, StoreResult, Tenant, TenantStore, Timestamp, TokenOwner};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{corrupt, db_error, ms, PgStore};

const ADMIN_COLUMNS: &str = "id, tenant_id, email, name, created_at";
const TOKEN_COLUMNS: &str = "id, tenant_id, admin_id, label, prefix, created_at, expires_at, revoked_at";

fn tenant_from_row(row: &PgRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant { id: row.try_get("id")?, name: row.try_get("name")?, created_at: row.try_get("created_at")? })
}

fn admin_from_row(row: &PgRow) -> Result<Admin, sqlx::Error> {
    Ok(Admin {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn token_from_row(row: &PgRow) -> Result<AdminToken, sqlx::Error> {
    Ok(AdminToken {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        admin_id: row.try_get("admin_id")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn insert_token(
    conn: &mut PgConnection,
    tenant_id: i64,
    admin_id: i64,
    token: &NewToken,
    now: Timestamp,
) -> StoreResult<AdminToken> {
    let row = sqlx::query(&format!(
        "INSERT INTO admin_tokens (tenant_id, admin_id, token_hash, prefix, label, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(admin_id)
    .bind(&token.token_hash)
    .bind(&token.prefix)
    .bind(&token.label)
    .bind(ms(now))
    .bind(token.expires_at.map(ms))
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    token_from_row(&row).map_err(corrupt)
}

/// Inserts an admin and its first token, inside the caller's transaction.
async fn insert_admin(conn: &mut PgConnection, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    let row = sqlx::query(&format!(
        "INSERT INTO admins (tenant_id, email, name, created_at) VALUES ($1, $2, $3, $4) RETURNING {ADMIN_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(&admin.email)
    .bind(&admin.name)
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let created = admin_from_row(&row).map_err(corrupt)?;
    insert_token(conn, tenant_id, created.id, &admin.token, now).await?;
    Ok(created)
}

#[async_trait]
impl TenantStore for PgStore {
    async fn create_tenant(&self, name: &str, admin: NewAdmin, now: Timestamp) -> StoreResult<(Tenant, Admin)> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row = sqlx::query("INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at")
            .bind(name)
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let tenant = tenant_from_row(&row).map_err(corrupt)?;
        let admin = insert_admin(&mut tx, tenant.id, admin, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok((tenant, admin))
    }

    async fn get_tenant(&self, tenant_id: i64) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(tenant_from_row).transpose().map_err(corrupt)
    }

    async fn create_admin(&self, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let created = insert_admin(&mut tx, tenant_id, admin, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>> {
        let rows = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 ORDER BY id"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(admin_from_row).collect::<Result<_, _>>().map_err(corrupt)
    }

    async fn create_token(
        &self,
        tenant_id: i64,
        admin_id: i64,
        token: NewToken,
        now: Timestamp,
    ) -> StoreResult<Option<AdminToken>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Locked so the admin cannot go between this check and the insert.
        let admin_of_tenant = sqlx::query("SELECT 1 FROM admins WHERE id = $1 AND tenant_id = $2 FOR KEY SHARE")
            .bind(admin_id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .is_some();
        if !admin_of_tenant {
            return Ok(None);
        }
        let created = insert_token(&mut tx, tenant_id, admin_id, &token, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(created))
    }

    async fn list_tokens(&self, tenant_id: i64, admin_id: Option<i64>) -> StoreResult<Vec<AdminToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_tokens
             WHERE tenant_id = $1 AND ($2::bigint IS NULL OR admin_id = $2) ORDER BY id"
        ))
        .bind(tenant_id)
        .bind(admin_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(token_from_row).collect::<Result<_, _>>().map_err(corrupt)
    }

    async fn get_token(&self, tenant_id: i64, token_id: i64) -> StoreResult<Option<AdminToken>> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(token_from_row).transpose().map_err(corrupt)
    }

    async fn revoke_token(&self, tenant_id: i64, token_id: i64, now: Timestamp) -> StoreResult<Option<AdminToken>> {
        let row = sqlx::query(&format!(
            "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $3)
             WHERE tenant_id = $1 AND id = $2 RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(token_id)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(token_from_row).transpose().map_err(corrupt)
    }

    /// One probe of `admin_tokens_token_hash_key`, then the admin by its
    /// primary key: a single statement, on the pool, committed data only,
    /// so a revocation committed by any process is seen here at once.
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
        let row = sqlx::query(
            "SELECT t.id, t.tenant_id, t.admin_id, t.label, t.prefix, t.created_at, t.expires_at, t.revoked_at,
                    a.email, a.name, a.created_at AS admin_created_at
             FROM admin_tokens AS t JOIN admins AS a ON a.id = t.admin_id
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let owner = (|| {
            let token = token_from_row(&row)?;
            let admin = Admin {
                id: token.admin_id,
                tenant_id: token.tenant_id,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                created_at: row.try_get("admin_created_at")?,
            };
            Ok::<_, sqlx::Error>(TokenOwner { token, admin })
        })()
        .map_err(corrupt)?;
        Ok(Some(owner))
    }
}
