//! Integrations: a tenant's connections to third parties.
//!
//! The bodies are read into the types of [`integration_input`]: a create is
//! a [`CreateIntegration`], a patch an [`IntegrationPatch`] merged (JSON
//! Merge Patch) over the stored input and read again as a
//! [`CreateIntegration`], so both are judged by the same rules.
//!
//! What the store keeps as the spec is the serialised settings with the
//! connector's credentials sealed (encrypted under the first secret key and
//! bound to the tenant, the field and the base URL's origin; see
//! [`crate::secrets`]). The API never returns the credentials, sealed or
//! not: the view shows the connector's kind and base URL only, and a body
//! that sends a sealed form instead of a string is refused. A patch is
//! merged over the stored input, so a patch that does not mention
//! `connector.bearer_token` keeps the stored one — sealed again under the
//! first key if an older one made it, and sealed for the first time if an
//! older installation stored it in clear. An empty patch (`{}`) does just
//! that.
//!
//! A patch that moves `connector.base_url` to another origin (scheme, host
//! or port) must carry `connector.bearer_token`: otherwise an admin could
//! send the stored token to a host of their choosing. Another path on the
//! same origin keeps the token. The sealed token is bound to its origin
//! too, so a base URL changed behind the API's back does not decrypt it.
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
use super::integration_input::{eligibility_schema, CreateIntegration, IntegrationPatch, Patch};
use super::merge_patch;
use super::problem::{ApiError, FieldError, Problem};
use crate::domain::eligibility::Condition;
use crate::domain::integration::{same_origin, IntegrationSettings, BEARER_TOKEN_FIELD, DEFAULT_MAX_WAIT_SECONDS};
use crate::domain::retry::RetryPolicy;
use crate::http::AppState;

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
    pub(crate) fn from_stored(stored: Integration) -> Result<Self, ApiError> {
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

/// A validated integration body, its credentials as sent or as stored.
struct IntegrationInput {
    name: String,
    record_type: String,
    settings: IntegrationSettings,
}

impl IntegrationInput {
    /// What the store keeps: the credentials sealed for `tenant_id`.
    fn into_stored(mut self, state: &AppState, tenant_id: i64) -> Result<NewIntegration, ApiError> {
        self.settings.connector = self.settings.connector.sealed(state.engine.secrets(), tenant_id);
        let spec = serde_json::to_value(&self.settings).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(NewIntegration { name: self.name, record_type: self.record_type, spec })
    }
}

/// Validates an integration body.
fn parse_input(state: &AppState, body: CreateIntegration) -> Result<IntegrationInput, ApiError> {
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
            .engine
            .outbound()
            .guard()
            .check_url(&url)
            .map_err(|e| ApiError::invalid_field("connector.base_url", e.to_string()))?;
    }
    // The spec is kept as JSON, and PostgreSQL's jsonb cannot hold U+0000.
    let clear = serde_json::to_value(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut nul = Vec::new();
    nul_paths(&clear, &mut String::new(), &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::invalid_fields(
            nul.into_iter().map(|field| FieldError::new(field, "must not contain U+0000 (NUL)")).collect(),
        ));
    }
    Ok(IntegrationInput { name, record_type, settings })
}

/// Refuses a create that sends a credential as anything but a string: the
/// sealed form (`{"encrypted": …}`) is the store's, not an admin's. Checked
/// on the JSON before decoding, which cannot name a key inside the
/// kind-tagged connector for a value of the wrong type. (A patch's
/// credentials are typed as strings, so decoding names them there.)
fn refuse_credentials_not_strings(request: &Value) -> Result<(), ApiError> {
    match request.pointer("/connector/bearer_token") {
        Some(value) if !value.is_string() => Err(ApiError::invalid_field(BEARER_TOKEN_FIELD, "must be a string")),
        _ => Ok(()),
    }
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
    Json(body): Json<Value>,
) -> Result<(StatusCode, axum::Json<IntegrationView>), ApiError> {
    refuse_credentials_not_strings(&body)?;
    let body: CreateIntegration = decode_value(body)?;
    let input = parse_input(&state, body)?.into_stored(&state, caller.tenant_id)?;
    let name = input.name.clone();
    let stored = state
        .engine
        .store()
        .create_integration(caller.tenant_id, input, state.engine.clock().now())
        .await
        .map_err(name_taken(&name))?;
    state.engine.integrations_changed(caller.tenant_id);
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
    let stored = state.engine.store().list_integrations(caller.tenant_id).await?;
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
    let stored = state.engine.store().get_integration(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    Ok(axum::Json(IntegrationView::from_stored(stored)?))
}

/// Changes an integration with a JSON Merge Patch (RFC 7396).
#[utoipa::path(patch, path = "/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    request_body(content = IntegrationPatch, content_type = "application/merge-patch+json",
        description = "Keys to change; `null` resets one. Without `connector.bearer_token` the stored token is \
            kept, unless `connector.base_url` moves to another origin, which takes a new token."),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 404, description = "No such integration in the tenant", body = Problem),
        (status = 409, description = "The new name is taken", body = Problem),
        (status = 422, description = "The patched integration is invalid, or its base URL moves to another \
            origin without a new `connector.bearer_token`", body = Problem),
    ))]
pub async fn patch_integration(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
    Json(patch): Json<IntegrationPatch>,
) -> Result<axum::Json<IntegrationView>, ApiError> {
    let sends_token = matches!(&patch.connector, Patch::Set(connector) if !connector.bearer_token.is_keep());
    let patch = serde_json::to_value(&patch).map_err(|e| ApiError::Internal(e.to_string()))?;
    let stored = state.engine.store().get_integration(caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut input = stored_input(&stored);
    let stored_base_url = input.pointer("/connector/base_url").and_then(Value::as_str).map(str::to_owned);
    merge_patch::apply(&mut input, patch);
    let input = parse_input(&state, decode_value(input)?)?;
    let moves_origin = stored_base_url.is_some_and(|old| !same_origin(&old, input.settings.connector.base_url()));
    if moves_origin && !sends_token {
        return Err(ApiError::invalid_field(
            BEARER_TOKEN_FIELD,
            "is required when connector.base_url moves to another origin (scheme, host or port): the stored \
             token is only sent where it was first sent",
        ));
    }
    let input = input.into_stored(&state, caller.tenant_id)?;
    let name = input.name.clone();
    let updated = state
        .engine
        .store()
        .update_integration(caller.tenant_id, id, input, state.engine.clock().now())
        .await
        .map_err(name_taken(&name))?
        .ok_or_else(|| not_found(id))?;
    state.engine.integrations_changed(caller.tenant_id);
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
    if state.engine.store().delete_integration(caller.tenant_id, id).await? {
        state.engine.integrations_changed(caller.tenant_id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}
