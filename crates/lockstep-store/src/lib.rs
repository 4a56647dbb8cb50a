//! The storage seam of Lockstep.
//!
//! Everything Lockstep remembers goes through the [`Store`] trait: tenants and
//! their admins, integrations, records, and the per-(record, integration) sync
//! states that the scheduler claims. Two backends implement it, SQLite (the
//! embedded default) and PostgreSQL, each in its own crate with its own
//! migrations, and both pass the same conformance suite (`conformance`
//! feature).
//!
//! The store holds no product rules. Where a write has to decide something
//! inside its transaction (which integrations a record change makes pending,
//! and until when), the caller passes a [`SyncPlanner`] and the store only
//! reads, asks, and writes. That keeps the debounce logic in one pure place
//! and the transaction boundary in the store, where it belongs.

mod error;
mod planned;
mod rows;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{StoreError, StoreResult};
pub use planned::apply_planned_sync;
pub use rows::*;
pub use store::{ensure_current_integrations, Store, SyncPlanner};
