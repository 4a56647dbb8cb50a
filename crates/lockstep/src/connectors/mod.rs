//! Connectors: how Lockstep talks to third parties. One [`Connector`] trait
//! (look up, create or update, deactivate, list pages), a SCIM 2.0 implementation, the
//! one guarded outbound HTTP client every connector uses, and the cleaning
//! every third party's text goes through before Lockstep keeps it.

pub mod connector;
pub mod outbound;
pub mod scim;
pub mod third_party_text;

pub use connector::{Connector, ConnectorError, Pushed, RemoteUser, UsersPage, CANNOT_LIST};
