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
use serde_json::Value;

use super::third_party_text;
use crate::domain::mapping::TargetPath;

/// The result of a push or deactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The third party's id for the record, when it gave one fit to keep
    /// ([`third_party_text::remote_id`]).
    pub remote_id: Option<String>,
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
}
