//! The storage seam, one trait per capability.
//!
//! Each capability of the product has its own trait, and each backend
//! implements it in a file of its own (`tenants.rs`, `integrations.rs`,
//! `records.rs`, `sync_queue.rs` in both store crates), so a new capability
//! adds a trait and a file rather than growing one list of methods:
//!
//! - [`TenantStore`]: tenants, their admins and the admins' bearer tokens;
//! - [`IntegrationStore`]: a tenant's connections to third parties;
//! - [`RecordStore`]: versioned records, written with the sync states they imply;
//! - [`SyncQueue`]: the per-(record, integration) sync states as a queue of
//!   due work: claims under a lease, fenced finishes, retries;
//! - [`JobQueue`]: every other kind of background work (overview and Sync
//!   Now runs, notification emails) as durable jobs;
//! - [`OverviewStore`]: Sync Overviews and their changes;
//! - [`SyncRunStore`]: Sync Now runs, their logs, and the sync states they claim;
//! - [`NotificationStore`]: admins' notifications, their emails, and tenant settings;
//! - [`ConsoleStore`]: the admin console's one-time sign-in links and sessions.
//!
//! [`Store`] is all of them together, plus migrations: what the app opens and
//! hands to each of its parts. A part that needs only one capability names
//! only that trait in its `use`.
//!
//! Every method is scoped by tenant where a tenant's data is touched; a row
//! of another tenant is reported as absent.

mod console;
mod integrations;
mod jobs;
mod notifications;
mod operations;
mod records;
mod sync_queue;
mod tenants;

use async_trait::async_trait;

pub use console::ConsoleStore;
pub use integrations::IntegrationStore;
pub use jobs::JobQueue;
pub use notifications::NotificationStore;
pub use operations::{OverviewStore, SyncRunStore};
pub use records::{ensure_current_integrations, RecordStore, SyncPlanner};
pub use sync_queue::SyncQueue;
pub use tenants::TenantStore;

use crate::StoreResult;

/// Every capability of a backend, and its migrations.
#[async_trait]
pub trait Store:
    TenantStore
    + IntegrationStore
    + RecordStore
    + SyncQueue
    + JobQueue
    + OverviewStore
    + SyncRunStore
    + NotificationStore
    + ConsoleStore
    + Send
    + Sync
    + 'static
{
    /// Applies the backend's migrations; idempotent.
    async fn migrate(&self) -> StoreResult<()>;
}
