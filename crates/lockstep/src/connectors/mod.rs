//! Connectors: how Lockstep talks to third parties. One [`Connector`] trait
//! (look up, create or update, deactivate), a SCIM 2.0 implementation, and
//! the one guarded outbound HTTP client every connector uses.

pub mod connector;
pub mod outbound;
pub mod scim;

pub use connector::{Connector, ConnectorError, Pushed};
