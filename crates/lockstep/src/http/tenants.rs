//! Tenants: created by the platform's operator, each with its first admin.
//!
//! `POST /v1/tenants` is the only route that takes the operator token (from
//! `LOCKSTEP_OPERATOR_TOKEN`); with none configured, tenant creation over
//! HTTP is off and the route says so with a 403 rather than pretending the
//! caller's token is wrong.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lockstep_store::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::admins::{AdminView, CreateAdmin};
use super::extract::{Json, Operator};
use super::input::{self, check_name};
use super::problem::{ApiError, FieldError, Problem};
use super::tokens;
use crate::http::AppState;

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self { id: t.id, name: t.name, created_at: t.created_at }
    }
}

/// A tenant to create, with its first admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 1–200 characters, not only spaces, no control characters.
    #[schema(schema_with = input::name_schema)]
    pub name: String,
    #[serde(deserialize_with = "super::extract::object")]
    pub admin: CreateAdmin,
}

/// The new tenant, its first admin and that admin's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant: TenantView,
    pub admin: AdminView,
    /// The first admin's bearer token, shown this once.
    pub token: String,
}

/// Creates a tenant and its first admin.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    security(("bearer" = [])),
    description = "Takes the operator token (`LOCKSTEP_OPERATOR_TOKEN`) as the bearer token.",
    responses(
        (status = 201, description = "The tenant, its admin and the admin's token", body = TenantCreated),
        (status = 401, description = "No or a wrong operator token", body = Problem),
        (status = 403, description = "No operator token is configured", body = Problem),
        (status = 422, description = "Invalid name or admin", body = Problem),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _operator: Operator,
    Json(body): Json<CreateTenant>,
) -> Result<(StatusCode, axum::Json<TenantCreated>), ApiError> {
    let mut errors = Vec::new();
    if let Err(message) = check_name(&body.name) {
        errors.push(FieldError::new("name", message));
    }
    errors.extend(body.admin.validate("admin."));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let token = tokens::generate();
    let (tenant, admin) = state
        .engine
        .store()
        .create_tenant(body.name.trim(), body.admin.into_new_admin(&token), state.engine.clock().now())
        .await?;
    tracing::info!(tenant_id = tenant.id, admin_id = admin.id, "tenant created");
    Ok((StatusCode::CREATED, axum::Json(TenantCreated { tenant: tenant.into(), admin: admin.into(), token })))
}
