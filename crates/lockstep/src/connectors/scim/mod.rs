//! The SCIM 2.0 connector (RFC 7643/7644): users in `/Users`, identified by
//! `externalId` = the record's id.
//!
//! A push first finds the user (by the id learnt from an earlier push, else
//! by an `externalId` filter), applies the mapped values to what the third
//! party holds, and writes with PUT only if something differs; a user it
//! cannot find is created with POST. Because of that look-up, a push
//! repeated after a crash adopts the user the first attempt created, and a
//! push whose values already arrived writes nothing.

mod errors;
pub mod resource;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value};
use url::Url;

use super::connector::{Connector, ConnectorError, Pushed};
use super::outbound::OutboundClient;
use crate::domain::integration::ScimConnectorConfig;
use crate::domain::mapping::TargetPath;

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM 2.0 third party.
pub struct ScimConnector {
    client: OutboundClient,
    users: Url,
    token: String,
}

impl ScimConnector {
    /// A connector for the configured service provider.
    pub fn new(client: OutboundClient, config: &ScimConnectorConfig) -> Result<Self, url::ParseError> {
        let mut base = Url::parse(&config.base_url)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self { client, users: base.join("Users")?, token: config.bearer_token.clone() })
    }

    fn user_url(&self, id: &str) -> Url {
        let mut url = self.users.clone();
        url.path_segments_mut().expect("an http URL has segments").push(id);
        url
    }

    /// Sends one request; a success answers its JSON body (or null).
    async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value, ConnectorError> {
        self.send_unless_missing(method, url, body).await?.ok_or_else(|| {
            errors::from_response(reqwest::StatusCode::NOT_FOUND, None, "the user is not there (any more)")
        })
    }

    /// As [`Self::send`], but a 404 answers `None`: for look-ups, where a
    /// missing user is an answer, not a failure.
    async fn send_unless_missing(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        let mut request = self
            .client
            .request(method, url)
            .map_err(errors::from_guard)?
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, SCIM_JSON);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .body(serde_json::to_vec(body).expect("JSON values serialise"));
        }
        let response = request.send().await.map_err(|e| errors::from_transport(&e))?;
        let status = response.status();
        let retry_after =
            response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.map_err(|e| errors::from_transport(&e))?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(errors::from_response(status, retry_after.as_deref(), &text));
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        serde_json::from_str(&text).map(Some).map_err(|_| {
            errors::from_response(
                reqwest::StatusCode::BAD_GATEWAY,
                None,
                "the third party answered with malformed JSON",
            )
        })
    }

    /// The user for a record, or none.
    async fn find(
        &self,
        external_id: &str,
        remote_id: Option<&str>,
    ) -> Result<Option<Map<String, Value>>, ConnectorError> {
        if let Some(id) = remote_id {
            // None: deleted on their side since, so fall back to the filter.
            if let Some(Value::Object(user)) = self.send_unless_missing(Method::GET, self.user_url(id), None).await? {
                return Ok(Some(user));
            }
        }
        let mut url = self.users.clone();
        let escaped = external_id.replace('\\', "\\\\").replace('"', "\\\"");
        url.query_pairs_mut().append_pair("filter", &format!("externalId eq \"{escaped}\""));
        let list = self.send(Method::GET, url, None).await?;
        let found = list
            .get("Resources")
            .and_then(Value::as_array)
            .and_then(|resources| {
                resources.iter().find(|r| r.get("externalId").and_then(Value::as_str) == Some(external_id))
            })
            .and_then(Value::as_object)
            .cloned();
        Ok(found)
    }

    /// Writes `desired` over `current` if they differ.
    async fn replace(
        &self,
        current: Map<String, Value>,
        desired: Map<String, Value>,
    ) -> Result<Pushed, ConnectorError> {
        let id = current.get("id").and_then(Value::as_str).map(str::to_owned);
        let Some(id) = id else {
            return Err(ConnectorError::Rejected {
                errors: vec![lockstep_store::SyncError {
                    field: None,
                    code: "invalidResponse".into(),
                    message: "the third party returned a user without an id".into(),
                }],
            });
        };
        if without_meta(&current) == without_meta(&desired) {
            return Ok(Pushed { remote_id: Some(id), wrote: false });
        }
        let body = Value::Object(without_meta(&desired));
        self.send(Method::PUT, self.user_url(&id), Some(&body)).await?;
        Ok(Pushed { remote_id: Some(id), wrote: true })
    }
}

fn without_meta(resource: &Map<String, Value>) -> Map<String, Value> {
    let mut copy = resource.clone();
    copy.remove("meta");
    copy
}

#[async_trait]
impl Connector for ScimConnector {
    async fn push(
        &self,
        external_id: &str,
        remote_id: Option<&str>,
        values: &[(&TargetPath, Value)],
    ) -> Result<Pushed, ConnectorError> {
        match self.find(external_id, remote_id).await? {
            Some(current) => {
                let mut desired = current.clone();
                for (target, value) in values {
                    resource::apply(&mut desired, target, value.clone());
                }
                desired.insert("active".into(), Value::Bool(true));
                self.replace(current, desired).await
            }
            None => {
                let mut user = resource::new_user(external_id);
                for (target, value) in values {
                    resource::apply(&mut user, target, value.clone());
                }
                let created = self.send(Method::POST, self.users.clone(), Some(&Value::Object(user))).await?;
                let id = created.get("id").and_then(Value::as_str).map(str::to_owned);
                Ok(Pushed { remote_id: id, wrote: true })
            }
        }
    }

    async fn deactivate(&self, external_id: &str, remote_id: Option<&str>) -> Result<Pushed, ConnectorError> {
        match self.find(external_id, remote_id).await? {
            None => Ok(Pushed { remote_id: None, wrote: false }),
            Some(current) => {
                let mut desired = current.clone();
                desired.insert("active".into(), Value::Bool(false));
                self.replace(current, desired).await
            }
        }
    }
}
