//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`,
//! `/ResourceTypes[/{id}]` and `/Schemas[/{id}]`, rendered from the schema
//! table in [`super::schema`], so what a client discovers is what the sandbox
//! enforces. They answer GET only; other methods get 405 (see the router).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::{scim_json, ScimError};
use super::schema::{attribute_json, ENTERPRISE_ATTRIBUTES, ENTERPRISE_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA};
use super::users::MAX_RESULTS;
use super::Shared;

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// `GET /ServiceProviderConfig`
pub async fn service_provider_config(State(s): State<Arc<Shared>>) -> Response {
    let auth_description = match s.bearer_token {
        Some(_) => "Authorization: Bearer <token> on every request",
        None => "Accepted but not required: this sandbox runs without a token",
    };
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{}/_sandbox", s.base_url),
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": auth_description,
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", s.base_url),
        },
    });
    scim_json(StatusCode::OK, &body)
}

fn user_resource_type(s: &Shared) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": format!("Users of {} (a Lockstep sandbox)", s.name),
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/User", s.base_url),
        },
    })
}

/// `GET /ResourceTypes`
pub async fn resource_types(State(s): State<Arc<Shared>>) -> Response {
    scim_json(StatusCode::OK, &list(vec![user_resource_type(&s)]))
}

/// `GET /ResourceTypes/{id}`
pub async fn resource_type(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Response, ScimError> {
    if id != "User" {
        return Err(ScimError::not_found(format!("no resource type \"{id}\"")));
    }
    Ok(scim_json(StatusCode::OK, &user_resource_type(&s)))
}

fn schemas(s: &Shared) -> Vec<Value> {
    let schema = |id: &str, name: &str, description: &str, attributes: &[super::schema::AttrDef]| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes.iter().map(attribute_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{id}", s.base_url),
            },
        })
    };
    vec![
        schema(USER_SCHEMA, "User", "User Account", USER_ATTRIBUTES),
        schema(ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
    ]
}

/// `GET /Schemas`
pub async fn all_schemas(State(s): State<Arc<Shared>>) -> Response {
    scim_json(StatusCode::OK, &list(schemas(&s)))
}

/// `GET /Schemas/{id}`
pub async fn schema_by_id(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Response, ScimError> {
    schemas(&s)
        .into_iter()
        .find(|schema| schema["id"].as_str().is_some_and(|known| known.eq_ignore_ascii_case(&id)))
        .map(|schema| scim_json(StatusCode::OK, &schema))
        .ok_or_else(|| ScimError::not_found(format!("no schema \"{id}\"")))
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
