//! Building the connector an integration is configured with.

use std::sync::Arc;

use crate::connectors::outbound::OutboundClient;
use crate::connectors::scim::ScimConnector;
use crate::connectors::Connector;
use crate::domain::integration::{ConnectorConfig, IntegrationRules};

/// The connector for an integration's configured third party.
pub fn connector_for(client: &OutboundClient, rules: &IntegrationRules) -> Result<Arc<dyn Connector>, String> {
    match &rules.connector {
        ConnectorConfig::Scim(config) => ScimConnector::new(client.clone(), config)
            .map(|c| Arc::new(c) as Arc<dyn Connector>)
            .map_err(|e| format!("invalid SCIM base URL: {e}")),
    }
}
