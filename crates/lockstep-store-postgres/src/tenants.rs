//! Tenants and their admins.
//!
//! An admin's email is unique within its tenant and its token hash across
//! all tenants (a bearer token must name one admin); both are unique
//! constraints, reported as `Conflict`.

use async_trait::async_trait;
use lockstep_store::{Admin, NewAdmin, StoreResult, Tenant, TenantStore, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{corrupt, db_error, ms, PgStore};

const ADMIN_COLUMNS: &str = "id, tenant_id, email, name, created_at";

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

async fn insert_admin(conn: &mut PgConnection, tenant_id: i64, admin: NewAdmin, now: Timestamp) -> StoreResult<Admin> {
    let row = sqlx::query(&format!(
        "INSERT INTO admins (tenant_id, email, name, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {ADMIN_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(&admin.email)
    .bind(&admin.name)
    .bind(&admin.token_hash)
    .bind(ms(now))
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    admin_from_row(&row).map_err(corrupt)
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
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        insert_admin(&mut conn, tenant_id, admin, now).await
    }

    async fn list_admins(&self, tenant_id: i64) -> StoreResult<Vec<Admin>> {
        let rows = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE tenant_id = $1 ORDER BY id"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(admin_from_row).collect::<Result<_, _>>().map_err(corrupt)
    }

    async fn admin_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Admin>> {
        let row = sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(admin_from_row).transpose().map_err(corrupt)
    }
}
