//! Integrations: one connection of a tenant to one third party.
//!
//! The store keeps the spec as opaque JSONB; names are unique per tenant.
//! Deleting an integration deletes its sync states in the same transaction.
//! Every change moves the tenant's `integrations_version` on in the same
//! statement or transaction (migration 0005).

use async_trait::async_trait;
use lockstep_store::{Integration, IntegrationStore, NewIntegration, StoreResult, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use sqlx::Row;

use crate::{corrupt, db_error, ms, PgStore};

const COLUMNS: &str = "id, tenant_id, name, record_type, spec, created_at, updated_at";

fn integration_from_row(row: &PgRow) -> Result<Integration, sqlx::Error> {
    Ok(Integration {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        record_type: row.try_get("record_type")?,
        spec: row.try_get("spec")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn decode_one(row: Option<PgRow>) -> StoreResult<Option<Integration>> {
    row.as_ref().map(integration_from_row).transpose().map_err(corrupt)
}

#[async_trait]
impl IntegrationStore for PgStore {
    async fn create_integration(
        &self,
        tenant_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Integration> {
        // A failed insert (a taken name) fails the statement: no bump.
        let row = sqlx::query(&format!(
            "WITH bumped AS (
                 UPDATE tenants SET integrations_version = integrations_version + 1 WHERE id = $1
             )
             INSERT INTO integrations (tenant_id, name, record_type, spec, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(&integration.name)
        .bind(&integration.record_type)
        .bind(&integration.spec)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        integration_from_row(&row).map_err(corrupt)
    }

    async fn get_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<Option<Integration>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(integration_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        decode_one(row)
    }

    async fn list_integrations(&self, tenant_id: i64) -> StoreResult<Vec<Integration>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM integrations WHERE tenant_id = $1 ORDER BY id"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(integration_from_row).collect::<Result<_, _>>().map_err(corrupt)
    }

    async fn update_integration(
        &self,
        tenant_id: i64,
        integration_id: i64,
        integration: NewIntegration,
        now: Timestamp,
    ) -> StoreResult<Option<Integration>> {
        let row = sqlx::query(&format!(
            "WITH updated AS (
                 UPDATE integrations SET name = $3, record_type = $4, spec = $5, updated_at = $6
                 WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}
             ), bumped AS (
                 UPDATE tenants SET integrations_version = integrations_version + 1
                 WHERE id = $1 AND EXISTS (SELECT 1 FROM updated)
             )
             SELECT * FROM updated"
        ))
        .bind(tenant_id)
        .bind(integration_id)
        .bind(&integration.name)
        .bind(&integration.record_type)
        .bind(&integration.spec)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        decode_one(row)
    }

    async fn delete_integration(&self, tenant_id: i64, integration_id: i64) -> StoreResult<bool> {
        // The integration and its sync states go together (there is no
        // cascading foreign key; see the migration for why).
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM integrations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(integration_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() > 0 {
            sqlx::query("UPDATE tenants SET integrations_version = integrations_version + 1 WHERE id = $1")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            // Locked in key order first (lib.rs, lock order): a `DELETE`
            // takes its rows in the table's order, and a finish of two of
            // them, holding one, would wait for it in a cycle.
            sqlx::query(
                "SELECT 1 FROM sync_states WHERE tenant_id = $1 AND integration_id = $2
                 ORDER BY record_id FOR UPDATE",
            )
            .bind(tenant_id)
            .bind(integration_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            sqlx::query("DELETE FROM sync_states WHERE tenant_id = $1 AND integration_id = $2")
                .bind(tenant_id)
                .bind(integration_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn integrations_version(&self, tenant_id: i64) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        integrations_version(&mut conn, tenant_id).await
    }
}

/// The tenant's integrations version (0 when the tenant does not exist).
pub(crate) async fn integrations_version(conn: &mut PgConnection, tenant_id: i64) -> StoreResult<i64> {
    let version: Option<i64> = sqlx::query_scalar("SELECT integrations_version FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    Ok(version.unwrap_or(0))
}
