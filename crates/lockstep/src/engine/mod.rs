//! The engine: the services and workers between the API and the store.
//!
//! - [`records`] writes records and the sync states they imply (one
//!   transaction, planned by [`crate::domain::planner`]) and builds a
//!   record's sync view; [`group_commit`] lets concurrent small writes
//!   share one transaction; [`integrations_cache`] keeps the integrations
//!   writes are planned with.
//! - [`write_sync`] is the worker that claims due syncs and pushes them
//!   through connectors.
//! - [`operations`] starts, runs and reads Sync Overviews and Sync Now
//!   runs; [`jobs`] runs the durable background jobs; [`notify`] decides the
//!   notification an operation's end creates; [`email`] sends a
//!   notification's email, with the signed link to its page; [`settings`]
//!   reads and changes a tenant's settings.

pub mod connectors;
pub mod email;
pub mod group_commit;
pub mod integrations_cache;
pub mod jobs;
pub mod notify;
pub mod operations;
pub mod records;
mod service;
pub mod settings;
pub mod write_sync;

pub use service::Engine;
