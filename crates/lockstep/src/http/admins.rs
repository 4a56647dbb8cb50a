//! Administrators: the people of a tenant who hold bearer tokens.
//!
//! `POST /v1/admins` adds one to the caller's tenant and answers with its
//! first token, the only time the token is ever shown (the store keeps its
//! hash; more tokens, expiry and revocation are in [`super::tokens`]).
//! `GET /v1/admins` lists the tenant's admins, `GET /v1/me` says who the
//! caller is.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lockstep_store::{Admin, NewAdmin};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AuthAdmin, Json};
use super::input::{self, check_email, check_name};
use super::problem::{ApiError, FieldError, Problem};
use super::tenants::TenantView;
use super::tokens;
use crate::http::AppState;

/// An admin as the API shows it (never the token or its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Admin> for AdminView {
    fn from(a: Admin) -> Self {
        Self { id: a.id, email: a.email, name: a.name, created_at: a.created_at }
    }
}

/// An admin to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdmin {
    /// Unique within the tenant: one `@`, no whitespace or control characters, at most 254 characters.
    #[schema(schema_with = input::email_schema)]
    pub email: String,
    /// 1–200 characters, not only spaces, no control characters.
    #[schema(schema_with = input::name_schema)]
    pub name: String,
}

impl CreateAdmin {
    /// Checks both fields; `prefix` places the errors in a larger body (`admin.`).
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(message) = check_email(&self.email) {
            errors.push(FieldError::new(format!("{prefix}email"), message));
        }
        if let Err(message) = check_name(&self.name) {
            errors.push(FieldError::new(format!("{prefix}name"), message));
        }
        errors
    }

    /// The store's row, with `token` as the admin's first token (kept by hash).
    pub fn into_new_admin(self, token: &str) -> NewAdmin {
        NewAdmin {
            email: self.email,
            name: self.name.trim().to_owned(),
            token: tokens::bearer::stored(token, None, None),
        }
    }
}

/// A new admin and its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminCreated {
    pub admin: AdminView,
    /// The bearer token, shown this once.
    pub token: String,
}

/// The tenant's admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminList {
    pub data: Vec<AdminView>,
}

/// The caller and its tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub admin: AdminView,
    pub tenant: TenantView,
}

/// Adds an admin to the caller's tenant.
#[utoipa::path(post, path = "/v1/admins", tag = "admins", request_body = CreateAdmin,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The admin and its token", body = AdminCreated),
        (status = 401, description = "No or a bad bearer token", body = Problem),
        (status = 409, description = "The email is taken in the tenant", body = Problem),
        (status = 422, description = "Invalid email or name", body = Problem),
    ))]
pub async fn create_admin(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Json(body): Json<CreateAdmin>,
) -> Result<(StatusCode, axum::Json<AdminCreated>), ApiError> {
    let errors = body.validate("");
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let token = tokens::generate();
    let email = body.email.clone();
    let admin = state
        .engine
        .store()
        .create_admin(caller.tenant_id, body.into_new_admin(&token), state.engine.clock().now())
        .await
        .map_err(|e| match e {
            lockstep_store::StoreError::Conflict(_) => {
                ApiError::Conflict(format!("an admin with email `{email}` already exists in this tenant"))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, axum::Json(AdminCreated { admin: admin.into(), token })))
}

/// Lists the admins of the caller's tenant.
#[utoipa::path(get, path = "/v1/admins", tag = "admins", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's admins", body = AdminList),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn list_admins(State(state): State<AppState>, caller: AuthAdmin) -> Result<axum::Json<AdminList>, ApiError> {
    let admins = state.engine.store().list_admins(caller.tenant_id).await?;
    Ok(axum::Json(AdminList { data: admins.into_iter().map(AdminView::from).collect() }))
}

/// The calling admin and its tenant.
#[utoipa::path(get, path = "/v1/me", tag = "admins", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn me(State(state): State<AppState>, caller: AuthAdmin) -> Result<axum::Json<Me>, ApiError> {
    let tenant = state.engine.store().get_tenant(caller.tenant_id).await?.ok_or_else(|| {
        ApiError::Internal(format!("admin {} belongs to missing tenant {}", caller.admin_id, caller.tenant_id))
    })?;
    Ok(axum::Json(Me { admin: caller.admin.into(), tenant: tenant.into() }))
}
