//! The [`Connector`] trait: what the engine asks of any third party.
//!
//! A push is idempotent by design: an update by the remembered remote id
//! sets the mapped values (setting them twice leaves the same result), and a
//! record without one is looked up by its Lockstep id (`externalId` in
//! SCIM) before it is created. A push repeated after a crash (the lease
//! expired before the result was stored) therefore adopts what the first
//! attempt created instead of duplicating it.
//!
//! Every error a connector reports is built by [`ConnectorError::transient`]
//! or [`ConnectorError::rejected`], which clean the third party's text on
//! its way to the store (see [`super::third_party_text`]).

use std::time::Duration;

use async_trait::async_trait;
use lockstep_store::SyncError;
use serde_json::{Map, Value};

use super::third_party_text;
use crate::domain::mapping::TargetPath;

/// The result of a push or deactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The third party's id for the record, when it gave one fit to keep
    /// ([`third_party_text::remote_id`]).
    pub remote_id: Option<String>,
}

/// A user as the third party holds it, read by a listing. Everything in it
/// is the third party's word: untrusted, and compared, never executed.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteUser {
    /// The third party's id, when it gave one fit to keep
    /// ([`third_party_text::remote_id`]).
    pub id: Option<String>,
    /// The record id it was created for (`externalId` in SCIM), if any.
    pub external_id: Option<String>,
    /// Whether the user is active (a user that does not say is active).
    pub active: bool,
    /// The whole resource, to read mapped attributes from.
    pub resource: Map<String, Value>,
}

/// One page of a listing of users.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsersPage {
    pub users: Vec<RemoteUser>,
    /// How many users the third party says it holds in all, when it says.
    pub total: Option<u64>,
}

/// Why a push did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying: connection errors, timeouts, 429, 5xx.
    #[error("transient failure: {}", .error.message)]
    Transient {
        error: SyncError,
        /// What the third party asked for with `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The third party refused the data or the credentials; retrying the same
    /// values will not help.
    #[error("rejected: {}", .errors.first().map(|e| e.message.as_str()).unwrap_or("no details"))]
    Rejected { errors: Vec<SyncError> },
}

impl ConnectorError {
    /// A failure worth retrying, with its code and message cleaned.
    pub fn transient(code: &str, message: &str, retry_after: Option<Duration>) -> Self {
        ConnectorError::Transient { error: third_party_text::sync_error(code, message), retry_after }
    }

    /// The third party's final word, with its code and message cleaned.
    pub fn rejected(code: &str, message: &str) -> Self {
        ConnectorError::Rejected { errors: vec![third_party_text::sync_error(code, message)] }
    }
}

/// A third party Lockstep writes records to.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Creates or updates the record `external_id` so the third party holds
    /// `values` (target attribute → value; null clears) and is active.
    /// `remote_id` is the third party's id when a previous push learned it.
    async fn push(
        &self,
        external_id: &str,
        remote_id: Option<&str>,
        values: &[(&TargetPath, Value)],
    ) -> Result<Pushed, ConnectorError>;

    /// Marks the record inactive in the third party; a record it does not
    /// know is already as good as deactivated.
    async fn deactivate(&self, external_id: &str, remote_id: Option<&str>) -> Result<Pushed, ConnectorError>;

    /// Creates the record without looking it up first: only for a record
    /// no push has ever been attempted for, whose absence a listing has
    /// just shown (a Sync Now's creates). Anything else goes through
    /// [`Connector::push`], whose look-up makes a repeated push adopt.
    async fn create(&self, external_id: &str, values: &[(&TargetPath, Value)]) -> Result<Pushed, ConnectorError>;

    /// One page of the third party's users: at most `count`, from the
    /// 1-based `start_index`. A listing reads page after page, so memory
    /// holds one page whatever the number of users. A third party that
    /// cannot list users answers [`ConnectorError::Rejected`] with code
    /// [`CANNOT_LIST`].
    async fn list_users(&self, start_index: u64, count: u32) -> Result<UsersPage, ConnectorError>;
}

/// The error code of a third party that does not list users (no such
/// endpoint, method not allowed, not implemented, or forbidden).
pub const CANNOT_LIST: &str = "cannot_list_users";
