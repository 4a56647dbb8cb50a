//! The storage seam of Lockstep.
//!
//! Everything Lockstep remembers goes through one trait per capability
//! ([`TenantStore`], [`IntegrationStore`], [`RecordStore`], [`SyncQueue`],
//! [`JobQueue`], [`OverviewStore`], [`SyncRunStore`],
//! [`NotificationStore`], [`ConsoleStore`]), which together make a [`Store`]: tenants, their
//! admins and the admins' bearer tokens, integrations, records, the
//! per-(record, integration) sync states that the scheduler claims, the
//! job queue of background work, Sync Overviews, Sync Now runs and their
//! logs, notifications and tenant settings, and the admin console's
//! sign-in links and sessions. Two backends implement them,
//! SQLite (the embedded default) and PostgreSQL, each in its own crate with its own
//! migrations, and both pass the same conformance suite (`conformance`
//! feature).
//!
//! The store holds no product rules. Where a write has to decide something
//! inside its transaction (which integrations a record change makes pending,
//! and until when), the caller passes a [`SyncPlanner`] and the store only
//! reads, asks, and writes. That keeps the debounce logic in one pure place
//! and the transaction boundary in the store, where it belongs. The rules
//! that do not depend on the SQL dialect are stated here once, for both
//! backends to store: [`write_rules`] (versions, no-op writes),
//! [`finish_rules`] (what a finish does to a syncing state),
//! [`apply_planned_sync`] (what a planned sync does to the states read),
//! [`email_rules`] (how a notification's email is sent at most once) and
//! [`search_rules`] (what the console's record search finds).

mod console_rows;
pub mod email_rules;
mod error;
pub mod finish_rules;
mod job_rows;
mod notification_rows;
mod operation_rows;
mod planned;
mod rows;
pub mod search_rules;
mod store;
pub mod write_rules;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use console_rows::*;
pub use error::{StoreError, StoreResult};
pub use job_rows::*;
pub use notification_rows::*;
pub use operation_rows::*;
pub use planned::apply_planned_sync;
pub use rows::*;
pub use store::{
    ensure_current_integrations, ConsoleStore, IntegrationStore, JobQueue, NotificationStore, OverviewStore,
    RecordStore, Store, SyncPlanner, SyncQueue, SyncRunStore, TenantStore,
};
