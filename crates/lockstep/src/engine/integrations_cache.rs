//! The integrations that record writes are planned with, kept in memory
//! between writes, so a single write does not read them every time.
//!
//! Why it is never stale, across any number of processes, without messages
//! between them: every change of an integration moves the tenant's
//! integrations version on in the same transaction (the store does it), an
//! entry here remembers the version it was read under, the planner carries
//! that version into the write, and the store refuses a write planned under
//! a version that has moved on ([`StoreError::IntegrationsChanged`]). The
//! writer then forgets the entry and plans again with what it reads. The
//! version is read before the integrations, so an entry is never older than
//! the version it names (at worst newer, which costs one refused write).
//!
//! A change made through this process forgets the tenant's entries at once;
//! a change made through another one costs this process one refused write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lockstep_store::StoreError;

use super::records::integrations_for;
use super::Engine;
use crate::domain::integration::IntegrationRules;

/// How many (tenant, record type) entries are kept; when full, all are
/// dropped and refilled by the next writes. Each is a few small specs.
const MAX_ENTRIES: usize = 10_000;

/// A tenant's integrations of one record type, as of `version`.
#[derive(Clone)]
pub struct CachedIntegrations {
    pub version: i64,
    pub rules: Arc<Vec<IntegrationRules>>,
}

/// The integrations by (tenant, record type).
#[derive(Default)]
pub struct IntegrationsCache {
    entries: Mutex<HashMap<(i64, String), CachedIntegrations>>,
}

impl IntegrationsCache {
    /// The tenant's integrations of `record_type`, read from the store when
    /// not held.
    pub async fn get(
        &self,
        engine: &Engine,
        tenant_id: i64,
        record_type: &str,
    ) -> Result<CachedIntegrations, StoreError> {
        let key = (tenant_id, record_type.to_owned());
        if let Some(held) = self.entries.lock().expect("integrations cache lock").get(&key) {
            return Ok(held.clone());
        }
        // The version first: the integrations read next are at least as new.
        let version = engine.store.integrations_version(tenant_id).await?;
        let rules = Arc::new(integrations_for(engine, tenant_id, record_type).await?);
        let read = CachedIntegrations { version, rules };
        let mut entries = self.entries.lock().expect("integrations cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, read.clone());
        Ok(read)
    }

    /// Drops what is held for a tenant: its integrations changed.
    pub fn forget(&self, tenant_id: i64) {
        self.entries.lock().expect("integrations cache lock").retain(|(tenant, _), _| *tenant != tenant_id);
    }
}
