//! The [`Connector`] trait: what the engine asks of any third party.
//!
//! A push is idempotent by design: the connector looks the record up by its
//! Lockstep id (`externalId` in SCIM) before creating it, and writes only
//! when the third party's values differ. A push repeated after a crash (the
//! lease expired before the result was stored) therefore adopts what the
//! first attempt created instead of duplicating it.

use std::time::Duration;

use async_trait::async_trait;
use lockstep_store::SyncError;
use serde_json::Value;

use crate::domain::mapping::TargetPath;

/// The result of a push or deactivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The third party's id for the record, when it has one.
    pub remote_id: Option<String>,
    /// Whether anything was written (false: the third party already matched).
    pub wrote: bool,
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
    /// The errors to keep on the sync state.
    pub fn errors(&self) -> Vec<SyncError> {
        match self {
            ConnectorError::Transient { error, .. } => vec![error.clone()],
            ConnectorError::Rejected { errors } => errors.clone(),
        }
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
