//! Building the connector an integration is configured with. This is the
//! one place a stored credential is decrypted: for the push at hand, never
//! kept beyond the connector it builds.

use std::sync::Arc;

use lockstep_store::SyncError;

use crate::connectors::outbound::OutboundClient;
use crate::connectors::scim::ScimConnector;
use crate::connectors::Connector;
use crate::domain::integration::{ConnectorConfig, IntegrationRules};
use crate::secrets::Keyring;

/// The connector for a tenant's integration. An error fails the sync with
/// its code and message: a credential no configured key decrypts is
/// `secret_unreadable`, saying which key it needs.
pub fn connector_for(
    client: &OutboundClient,
    keyring: &Keyring,
    tenant_id: i64,
    rules: &IntegrationRules,
) -> Result<Arc<dyn Connector>, SyncError> {
    let failure = |code: &str, message: String| SyncError { field: None, code: code.into(), message };
    match &rules.connector {
        ConnectorConfig::Scim(spec) => {
            let config = spec.reveal(keyring, tenant_id).map_err(|e| {
                failure("secret_unreadable", format!("the connector's bearer token cannot be decrypted: {e}"))
            })?;
            ScimConnector::new(client.clone(), &config)
                .map(|c| Arc::new(c) as Arc<dyn Connector>)
                .map_err(|e| failure("invalid_integration", format!("invalid SCIM base URL: {e}")))
        }
    }
}
