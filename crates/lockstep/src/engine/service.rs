//! [`Engine`]: the engine as one service, what the API, the workers, the
//! demo and the benchmarks hold. It owns the store, the clock, the metrics,
//! the outbound HTTP client, the secret keys, and the two things the write
//! path keeps in memory (the group-commit queues and the integrations
//! cache), and the signal that an operation ended. The HTTP layer holds an `Engine` in its own state and calls it;
//! nothing here knows about HTTP.

use std::sync::Arc;

use lockstep_store::Store;

use super::group_commit::GroupCommit;
use super::integrations_cache::IntegrationsCache;
use crate::clock::Clock;
use crate::connectors::outbound::OutboundClient;
use crate::metrics::Metrics;
use crate::secrets::Keyring;

/// The engine's parts. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Engine {
    pub(in crate::engine) store: Arc<dyn Store>,
    pub(in crate::engine) clock: Arc<dyn Clock>,
    pub(in crate::engine) metrics: Arc<Metrics>,
    pub(in crate::engine) outbound: OutboundClient,
    pub(in crate::engine) secrets: Arc<Keyring>,
    /// The queues of writes waiting to share a transaction.
    pub(in crate::engine) group_commit: Arc<GroupCommit>,
    /// The integrations record writes are planned with.
    pub(in crate::engine) integrations: Arc<IntegrationsCache>,
    /// Signalled when an overview or a sync run of this process ends, so a
    /// request waiting for one answers at once (one waiting in another
    /// process finds out by polling).
    pub(in crate::engine) operations: Arc<tokio::sync::Notify>,
}

impl Engine {
    /// An engine over an open (and migrated) store.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        outbound: OutboundClient,
        secrets: Arc<Keyring>,
    ) -> Engine {
        Engine {
            store,
            clock,
            metrics: Arc::new(Metrics::new()),
            outbound,
            secrets,
            group_commit: Arc::new(GroupCommit::default()),
            integrations: Arc::new(IntegrationsCache::default()),
            operations: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The store, for the reads and writes that need no engine rule.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The guarded client every request to a third party goes through.
    pub fn outbound(&self) -> &OutboundClient {
        &self.outbound
    }

    /// The keys connector credentials are encrypted and decrypted with.
    pub fn secrets(&self) -> &Keyring {
        &self.secrets
    }

    /// Tells the engine that this process changed a tenant's integrations,
    /// so its next write plans with them at once (another process finds out
    /// through the store's integrations version).
    pub fn integrations_changed(&self, tenant_id: i64) {
        self.integrations.forget(tenant_id);
    }
}
