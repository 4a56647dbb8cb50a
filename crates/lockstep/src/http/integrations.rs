//! Integrations: a tenant's connections to third parties.
//!
//! The bodies are read into the types of [`integration_input`]: a create is
//! a [`CreateIntegration`], a patch an [`IntegrationPatch`] merged (JSON
//! Merge Patch) over the stored input and read again as a
//! [`CreateIntegration`], so both are judged by the same rules.
//!
//! What the store keeps as the spec is the serialised settings, connector
//! credentials included. The API never returns the credentials: the view
//! shows the connector's kind and base URL only. A patch that does not
//! mention `connector.bearer_token` keeps the stored one.
//!
//! Every create and update is validated twice over: the settings' own rules
//! ([`IntegrationSettings::parse`]) and the outbound guard, which refuses a
//! base URL at a private address unless the operator allowed its range.
//!
//! [`integration_input`]: super::integration_input

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lockstep_store::{Integration, NewIntegration, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::{decode_value, AuthAdmin, Json, Path};
use super::input::{self, nul_paths};
use super::integration_input::{eligibility_schema, CreateIntegration, IntegrationPatch};
use super::merge_patch;
use super::problem::{ApiError, FieldError, Problem};
use crate::domain::eligibility::Condition;
use crate::domain::integration::{IntegrationSettings, DEFAULT_MAX_WAIT_SECONDS};
use crate::domain::retry::RetryPolicy;
use crate::AppState;

/// An integration's connector, without its credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectorView {
    /// `scim`.
    pub kind: String,
    pub base_url: String,
}

/// An integration as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: i64,
    pub name: String,
    pub record_type: String,
    pub connector: ConnectorView,
    /// Record field path → third-party attribute path.
    pub field_mapping: BTreeMap<String, String>,
    #[schema(schema_with = eligibility_schema)]
    pub eligibility: Vec<Condition>,
    pub grace_period_seconds: f64,
    /// The effective max wait (the default when none was configured).
    pub max_wait_seconds: f64,
    pub retry: RetryPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IntegrationView {
    fn from_stored(stored: Integration) -> Result<Self, ApiError> {
        let settings: IntegrationSettings = serde_json::from_value(stored.spec).map_err(|e| {
            ApiError::Internal(format!("integration {} has a spec this version cannot read: {e}", stored.id))
        })?;
        let grace = settings.grace_period_seconds;
        Ok(Self {
            id: stored.id,
            name: stored.name,
            record_type: stored.record_type,
            connector: ConnectorView {
                kind: settings.connector.kind().to_owned(),
                base_url: settings.connector.base_url().to_owned(),
            },
            field_mapping: settings.field_mapping,
            eligibility: settings.eligibility,
            grace_period_seconds: grace,
            max_wait_seconds: settings.max_wait_seconds.unwrap_or(DEFAULT_MAX_WAIT_SECONDS.max(grace)),
            retry: settings.retry,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }
}

/// A tenant's integrations, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    pub data: Vec<IntegrationView>,
}

/// Validates an integration body into what the store keeps.
fn parse_input(state: &AppState, body: CreateIntegration) -> Result<NewIntegration, ApiError> {
    input::check_name(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let values = body.eligibility.iter().enumerate().filter_map(|(i, c)| Some((i, c.value.as_ref()?)));
    let errors: Vec<FieldError> =
        values.flat_map(|(i, value)| input::check_field_value(value, &format!("eligibility[{i}].value"))).collect();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let (name, record_type, settings) = body.into_parts();
    settings.parse(0, &name, &record_type).map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    // `parse` accepted the URL, so it parses; the guard then judges its address.
    if let Ok(url) = url::Url::parse(settings.connector.base_url()) {
        state
            .outbound
            .guard()
            .check_url(&url)
            .map_err(|e| ApiError::invalid_field("connector.base_url", e.to_string()))?;
    }
    let spec = serde_json::to_value(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    // The spec is kept as JSON, and PostgreSQL's jsonb cannot hold U+0000.
    let mut nul = Vec::new();
    nul_paths(&spec, &mut String::new(), &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::invalid_fields(
            nul.into_iter().map(|field| FieldError::new(field, "must not contain U+0000 (NUL)")).collect(),
        ));
    }
    Ok(NewIntegration { name, record_type, spec })
}

/// The input an integration was created from, rebuilt from the store:
/// what a merge patch applies to.
fn stored_input(stored: &Integration) -> Value {
    let mut input = match &stored.spec {
        Value::Object(spec) => spec.clone(),
        _ => Map::new(),
    };
    input.insert("name".into(), Value::String(stored.name.clone()));
    input.insert("record_type".into(), Value::String(stored.record_type.clone()));
    Value::Object(input)
}

fn name_taken(name: &str) -> impl FnOnce(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(format!("an integration named `{name}` already exists")),
        other => other.into(),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no integration {id}"))
}

/// Creates an integration.
#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = CreateIntegration,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The integration", body = IntegrationView),
        (status = 401, description = "No or a bad bearer token", body = Problem),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "An invalid or unknown key, named in `errors`", body = Problem),
    ))]
pub async fn create_integration(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Json(body): Json<CreateIntegration>,
) -> Result<(StatusCode, axum::Json<IntegrationView>), ApiError> {
    let input = parse_input(&state, body)?;
    let name = input.name.clone();
    let stored =
        state.store.create_integration(caller.tenant_id, input, state.clock.now()).await.map_err(name_taken(&name))?;
    state.integrations.forget(caller.tenant_id);
    tracing::info!(tenant_id = caller.tenant_id, integration_id = stored.id, "integration created");
    Ok((StatusCode::CREATED, axum::Json(IntegrationView::from_stored(stored)?)))
}

/// Lists the tenant's integrations.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The integrations", body = IntegrationList),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn list_integrations(
    State(state): State<AppState>,
    caller: AuthAdmin,
) -> Result<axum::Json<IntegrationList>, ApiError> {
    let stored = state.store.list_integrations(caller.tenant_id).await?;
    let data = stored.into_iter().map(IntegrationView::from_stored).collect::<Result<_, _>>()?;
    Ok(axum::Json(IntegrationList { data }))
}

/// One integration.
#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 404, description = "No such integration in the tenant", body = Problem),
    ))]
pub async fn get_integration(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<IntegrationView>, ApiError> {
    let stored = state.store.get_integration(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    Ok(axum::Json(IntegrationView::from_stored(stored)?))
}

/// Changes an integration with a JSON Merge Patch (RFC 7396).
#[utoipa::path(patch, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    request_body(content = IntegrationPatch, content_type = "application/merge-patch+json",
        description = "Keys to change; `null` resets one. Without `connector.bearer_token` the stored token is kept."),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 404, description = "No such integration in the tenant", body = Problem),
        (status = 409, description = "The new name is taken", body = Problem),
        (status = 422, description = "The patched integration is invalid", body = Problem),
    ))]
pub async fn patch_integration(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
    Json(patch): Json<IntegrationPatch>,
) -> Result<axum::Json<IntegrationView>, ApiError> {
    let patch = serde_json::to_value(&patch).map_err(|e| ApiError::Internal(e.to_string()))?;
    let stored = state.store.get_integration(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut input = stored_input(&stored);
    merge_patch::apply(&mut input, patch);
    let input = parse_input(&state, decode_value(input)?)?;
    let name = input.name.clone();
    let updated = state
        .store
        .update_integration(caller.tenant_id, id, input, state.clock.now())
        .await
        .map_err(name_taken(&name))?
        .ok_or_else(|| not_found(id))?;
    state.integrations.forget(caller.tenant_id);
    Ok(axum::Json(IntegrationView::from_stored(updated)?))
}

/// Deletes an integration and its sync states.
#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such integration in the tenant", body = Problem),
    ))]
pub async fn delete_integration(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_integration(caller.tenant_id, id).await? {
        state.integrations.forget(caller.tenant_id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}
