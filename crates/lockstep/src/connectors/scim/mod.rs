//! The SCIM 2.0 connector (RFC 7643/7644): users in `/Users`, identified by
//! `externalId` = the record's id.
//!
//! An update of a user whose id an earlier push learnt is one request: a
//! PATCH of the mapped attributes by that id (`patch.rs`), which leaves
//! every attribute Lockstep does not map alone and, since setting a value
//! twice gives the same result, may be repeated safely. Only when the third
//! party no longer knows that id (404) is the user looked up again.
//!
//! A record without a remote id (its first push, or a push repeated after a
//! crash before the id was stored) is looked up by an `externalId` filter
//! first, so a repeated push adopts the user the first attempt created
//! instead of creating a second one. A user found that way is compared with
//! what the mapping says, and written only when something differs.
//!
//! The trade: a PATCH by id writes even when the values already arrived,
//! where reading first could have found nothing to do. Reading first would
//! cost a second request on every update to save a write only on the rare
//! push whose values the third party already holds (the quiet period has
//! passed, so something relevant changed); the write is idempotent, so the
//! third party ends the same either way.

mod errors;
mod patch;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::connector::{Connector, ConnectorError, Pushed, RemoteUser, UsersPage, CANNOT_LIST};
use super::outbound::{self, BodyError, OutboundClient, MAX_PAGE_BYTES};
use super::third_party_text;
use crate::domain::integration::ScimConnectorConfig;
use crate::domain::mapping::TargetPath;
use crate::domain::resource;

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM 2.0 third party.
pub struct ScimConnector {
    client: OutboundClient,
    users: Url,
    token: String,
}

/// An answer, read: its status, headers and body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// The body of a success; any other answer as the error it is.
    fn success(self) -> Result<String, ConnectorError> {
        if self.status.is_success() {
            Ok(self.body)
        } else {
            Err(errors::from_answer(self.status, &self.headers, &self.body))
        }
    }

    /// The JSON body of a success (null when empty).
    fn json(self) -> Result<Value, ConnectorError> {
        let status = self.status;
        let body = self.success()?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|_| errors::malformed(status))
    }
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

    /// Sends one request and reads its answer (up to the outbound cap).
    async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Answer, ConnectorError> {
        self.send_capped(method, url, body, outbound::MAX_RESPONSE_BYTES).await
    }

    /// [`ScimConnector::send`], reading up to `cap` bytes of the answer.
    async fn send_capped(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        cap: usize,
    ) -> Result<Answer, ConnectorError> {
        let mut request = self
            .client
            .request(method, url)
            .map_err(|e| errors::from_guard(&e))?
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, SCIM_JSON);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .body(serde_json::to_vec(body).expect("JSON values serialise"));
        }
        let response = request.send().await.map_err(|e| errors::from_transport(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        match outbound::read_body_up_to(response, cap).await {
            Ok(body) => Ok(Answer { status, headers, body }),
            Err(BodyError::TooLarge) => Err(errors::too_large(status, &headers)),
            Err(BodyError::Transport(e)) => Err(errors::from_transport(&e)),
        }
    }

    /// The user with this id, or none when the third party does not know it.
    async fn get(&self, id: &str) -> Result<Option<Map<String, Value>>, ConnectorError> {
        let answer = self.send(Method::GET, self.user_url(id), None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        match answer.json()? {
            Value::Object(user) => Ok(Some(user)),
            _ => Err(invalid_user()),
        }
    }

    /// The user whose `externalId` is the record's id, or none.
    async fn find(&self, external_id: &str) -> Result<Option<Map<String, Value>>, ConnectorError> {
        let mut url = self.users.clone();
        let escaped = external_id.replace('\\', "\\\\").replace('"', "\\\"");
        url.query_pairs_mut().append_pair("filter", &format!("externalId eq \"{escaped}\""));
        let list = self.send(Method::GET, url, None).await?.json()?;
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

    /// PATCHes user `id`; `false` when the third party does not know it.
    async fn patch(
        &self,
        id: &str,
        values: &[(&TargetPath, Value)],
        active: bool,
        current: Option<&Map<String, Value>>,
    ) -> Result<bool, ConnectorError> {
        let body = patch::body(values, active, current);
        let answer = self.send(Method::PATCH, self.user_url(id), Some(&body)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        // The answer may be the user (200) or nothing (204); either way the
        // id is the one just written to.
        answer.success()?;
        Ok(true)
    }

    /// Updates the user with the id an earlier push learnt: one PATCH.
    /// `None` when the third party no longer knows the id.
    async fn update_by_id(
        &self,
        id: &str,
        values: &[(&TargetPath, Value)],
        active: bool,
    ) -> Result<Option<Pushed>, ConnectorError> {
        let pushed = Pushed { remote_id: Some(id.to_owned()) };
        match self.patch(id, values, active, None).await {
            Ok(true) => Ok(Some(pushed)),
            Ok(false) => Ok(None),
            // An element the user lacks, through a strict provider: read the
            // user, so the PATCH can add the element instead (see `patch`).
            Err(error) if is_no_target(&error) && patch::has_filtered_targets(values) => match self.get(id).await? {
                Some(current) => self.update_found(current, values, active).await.map(Some),
                None => Ok(None),
            },
            Err(error) => Err(error),
        }
    }

    /// Updates a user read from the third party, writing only if the
    /// mapped values or `active` differ from what it holds.
    async fn update_found(
        &self,
        current: Map<String, Value>,
        values: &[(&TargetPath, Value)],
        active: bool,
    ) -> Result<Pushed, ConnectorError> {
        let Some(id) = current.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return Err(invalid_user());
        };
        let mut desired = current.clone();
        for (target, value) in values {
            resource::apply(&mut desired, target, value.clone());
        }
        desired.insert("active".into(), Value::Bool(active));
        let remote_id = third_party_text::remote_id(&id);
        if without_meta(&current) == without_meta(&desired) {
            return Ok(Pushed { remote_id });
        }
        if self.patch(&id, values, active, Some(&current)).await? {
            Ok(Pushed { remote_id })
        } else {
            Err(ConnectorError::transient("404", "404 the user was removed while Lockstep was updating it", None))
        }
    }

    /// Creates the user with POST.
    async fn post(&self, external_id: &str, values: &[(&TargetPath, Value)]) -> Result<Pushed, ConnectorError> {
        let mut user = resource::new_user(external_id);
        for (target, value) in values {
            resource::apply(&mut user, target, value.clone());
        }
        let created = self.send(Method::POST, self.users.clone(), Some(&Value::Object(user))).await?.json()?;
        let remote_id = created.get("id").and_then(Value::as_str).and_then(third_party_text::remote_id);
        Ok(Pushed { remote_id })
    }
}

/// Whether a provider refused a PATCH because a filter matched nothing.
fn is_no_target(error: &ConnectorError) -> bool {
    matches!(error, ConnectorError::Rejected { errors } if errors.iter().any(|e| e.code == "noTarget"))
}

/// Reads one user of a listing; `None` for an element that is not a resource.
fn remote_user(resource: Value) -> Option<RemoteUser> {
    let Value::Object(resource) = resource else { return None };
    let id = resource.get("id").and_then(Value::as_str).and_then(third_party_text::remote_id);
    let external_id = resource.get("externalId").and_then(Value::as_str).map(str::to_owned);
    // RFC 7643 gives `active` no default; a user that does not say is taken as active.
    let active = resource.get("active").and_then(Value::as_bool).unwrap_or(true);
    Some(RemoteUser { id, external_id, active, resource })
}

fn invalid_user() -> ConnectorError {
    ConnectorError::rejected("invalidResponse", "the third party returned a user without an id")
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
        if let Some(id) = remote_id {
            if let Some(pushed) = self.update_by_id(id, values, true).await? {
                return Ok(pushed);
            }
        }
        match self.find(external_id).await? {
            Some(current) => self.update_found(current, values, true).await,
            None => self.post(external_id, values).await,
        }
    }

    async fn deactivate(&self, external_id: &str, remote_id: Option<&str>) -> Result<Pushed, ConnectorError> {
        if let Some(id) = remote_id {
            if let Some(pushed) = self.update_by_id(id, &[], false).await? {
                return Ok(pushed);
            }
        }
        match self.find(external_id).await? {
            Some(current) => self.update_found(current, &[], false).await,
            None => Ok(Pushed { remote_id: None }),
        }
    }

    async fn create(&self, external_id: &str, values: &[(&TargetPath, Value)]) -> Result<Pushed, ConnectorError> {
        self.post(external_id, values).await
    }

    async fn list_users(&self, start_index: u64, count: u32) -> Result<UsersPage, ConnectorError> {
        let mut url = self.users.clone();
        url.query_pairs_mut()
            .append_pair("startIndex", &start_index.to_string())
            .append_pair("count", &count.to_string());
        let answer = self.send_capped(Method::GET, url, None, MAX_PAGE_BYTES).await?;
        if matches!(
            answer.status,
            StatusCode::NOT_FOUND
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_IMPLEMENTED
                | StatusCode::FORBIDDEN
        ) {
            let message =
                format!("the third party does not list users: GET {} answered {}", self.users.path(), answer.status);
            return Err(ConnectorError::rejected(CANNOT_LIST, &message));
        }
        let mut list = answer.json()?;
        let total = list.get("totalResults").and_then(Value::as_u64);
        // Taken out of the answer, not cloned: a page is a thousand users.
        let resources = list.as_object_mut().and_then(|list| list.remove("Resources"));
        let users = match resources {
            Some(Value::Array(resources)) => resources.into_iter().filter_map(remote_user).collect(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(ConnectorError::rejected(
                    "invalidResponse",
                    "the third party's list of users is not a list",
                ))
            }
        };
        Ok(UsersPage { users, total })
    }
}
