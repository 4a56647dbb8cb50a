//! The write-sync worker: claims due syncs from the store and pushes them to
//! third parties.
//!
//! Claims are made under a lease and each result is recorded fenced by the
//! claim it was made under ([`finisher`]), the moment its push ends. A
//! worker that dies mid-push leaves its claims to expire; another claims
//! them again, and the connector's look-up before create makes the repeated
//! push adopt instead of duplicate. A push never outlives its lease
//! ([`push`]), so two workers never push the same sync at once.
//!
//! [`WriteSyncWorker::run`] keeps up to `worker.concurrency` pushes in
//! flight and claims only as many syncs as it has free slots (once half of
//! them are free), so a claimed sync starts at once rather than waiting,
//! lease running, behind the others. When it finds nothing to claim it sleeps until the store signals
//! new work, the next due time, or the idle poll; when the due syncs are
//! locked by another process's claim it backs off instead of asking again
//! at once. Tests drive [`WriteSyncWorker::run_once`] (one claim, its
//! pushes, their results) on a manual clock instead of sleeping.

mod finisher;
mod push;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lockstep_store::{ClaimedSync, SyncQueue};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use finisher::Finisher;
pub use push::LEASE_MARGIN;

use crate::config::WorkerConfig;
use crate::domain::integration::IntegrationRules;
use crate::engine::Engine;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Claimed and finished this many syncs.
    Worked(usize),
    /// Nothing was due.
    EmptyQueue,
}

/// Due syncs claimed under one lease, each with its integration's rules
/// (`None`: the spec cannot be read).
struct Claimed {
    syncs: Vec<(ClaimedSync, Option<Arc<IntegrationRules>>)>,
    lease_until: DateTime<Utc>,
}

/// Pushes due syncs to third parties.
#[derive(Clone)]
pub struct WriteSyncWorker {
    engine: Engine,
    config: WorkerConfig,
}

impl WriteSyncWorker {
    pub fn new(engine: Engine, config: WorkerConfig) -> Self {
        Self { engine, config }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.config.lease_seconds)
    }

    fn queue(&self) -> Arc<dyn SyncQueue> {
        self.engine.store.clone()
    }

    /// Claims up to `limit` due syncs and reads their integrations. Syncs of
    /// an integration deleted since they were claimed are left out: their
    /// states went with it.
    async fn claim(&self, limit: usize) -> anyhow::Result<Claimed> {
        let now = self.engine.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.lease())?;
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let claimed = self.engine.store.claim_due_syncs(now, lease_until, limit).await?;
        // Per integration: `None` when it is gone, else its rules (`None`
        // inside when its spec cannot be read).
        let mut known: HashMap<i64, Option<Option<Arc<IntegrationRules>>>> = HashMap::new();
        let mut syncs = Vec::with_capacity(claimed.len());
        for claim in claimed {
            let rules = match known.entry(claim.state.integration_id) {
                Entry::Occupied(entry) => entry.get().clone(),
                Entry::Vacant(entry) => {
                    let stored = self.engine.store.get_integration(claim.state.tenant_id, *entry.key()).await?;
                    let rules = stored.map(|s| IntegrationRules::from_stored(&s).ok().map(Arc::new));
                    entry.insert(rules).clone()
                }
            };
            if let Some(rules) = rules {
                syncs.push((claim, rules));
            }
        }
        Ok(Claimed { syncs, lease_until })
    }

    /// Claims one batch of due syncs (`worker.batch_size`), pushes them,
    /// `worker.concurrency` at a time, and records each result as its push
    /// ends. Returns once every result is recorded.
    pub async fn run_once(&self) -> anyhow::Result<StepOutcome> {
        let Claimed { syncs, lease_until } = self.claim(self.config.batch_size as usize).await?;
        if syncs.is_empty() {
            return Ok(StepOutcome::EmptyQueue);
        }
        let count = syncs.len();
        let finisher = Finisher::start(self.queue(), self.engine.metrics.clone());
        stream::iter(syncs)
            .for_each_concurrent(self.config.concurrency, |(claim, rules)| {
                let finisher = &finisher;
                async move {
                    if let Some(result) = self.push(claim, rules, lease_until).await {
                        finisher.submit(result);
                    }
                }
            })
            .await;
        finisher.close().await;
        Ok(StepOutcome::Worked(count))
    }

    /// Runs steps until nothing is due (for tests and the demo).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        while let StepOutcome::Worked(n) = self.run_once().await? {
            total += n;
        }
        Ok(total)
    }

    /// Keeps up to `worker.concurrency` pushes in flight until `shutdown`
    /// is cancelled, then lets the pushes in flight end and records them.
    pub async fn run(self, shutdown: CancellationToken) {
        let signal = self.engine.store.work_signal();
        let idle = Duration::from_secs_f64(self.config.idle_poll_seconds);
        let concurrency = self.config.concurrency.max(1);
        let batch_size = (self.config.batch_size as usize).max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let finisher = Arc::new(Finisher::start(self.queue(), self.engine.metrics.clone()));
        let mut pushes = JoinSet::new();
        // Claims wait until half the slots are free (or none is busy), so a
        // busy worker claims many syncs per transaction rather than one per
        // push that ends.
        let refill_at = (concurrency / 2).clamp(1, batch_size);
        let mut backoff = Backoff::default();
        while !shutdown.is_cancelled() {
            while pushes.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free < refill_at && !pushes.is_empty() {
                tokio::select! {
                    _ = pushes.join_next() => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            // Register interest before looking, so a signal sent while the
            // claim runs is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = match self.claim(free.min(batch_size)).await {
                Ok(Claimed { syncs, lease_until }) if !syncs.is_empty() => {
                    backoff.reset();
                    for (claim, rules) in syncs {
                        let Ok(slot) = slots.clone().try_acquire_owned() else { break };
                        let (worker, finisher) = (self.clone(), finisher.clone());
                        pushes.spawn(async move {
                            if let Some(result) = worker.push(claim, rules, lease_until).await {
                                finisher.submit(result);
                            }
                            drop(slot);
                        });
                    }
                    continue;
                }
                Ok(_) => self.until_next_due(idle, &mut backoff).await,
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "claiming due syncs failed; backing off");
                    backoff.next(idle)
                }
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = pushes.join_next(), if !pushes.is_empty() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        while pushes.join_next().await.is_some() {}
        match Arc::try_unwrap(finisher) {
            Ok(finisher) => finisher.close().await,
            Err(_) => tracing::warn!("sync results were still being handed over at shutdown"),
        }
    }

    /// How long to sleep after a claim found nothing: until the next due
    /// time (at most `idle`), or, when something is due already but was not
    /// claimable (another process holds it locked while its claim commits),
    /// a backoff that grows while that lasts.
    async fn until_next_due(&self, idle: Duration, backoff: &mut Backoff) -> Duration {
        match self.engine.store.next_due_at().await {
            Ok(Some(due)) => match (due - self.engine.clock.now()).to_std() {
                Ok(wait) if !wait.is_zero() => {
                    backoff.reset();
                    wait.min(idle)
                }
                _ => backoff.next(idle),
            },
            Ok(None) => {
                backoff.reset();
                idle
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the next due time");
                backoff.next(idle)
            }
        }
    }
}

/// A wait that doubles from 10 ms each time it is taken in a row, up to a
/// cap, and starts over after a success.
#[derive(Debug, Default)]
struct Backoff {
    taken: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(5);

    fn next(&mut self, cap: Duration) -> Duration {
        let wait = Self::FIRST.saturating_mul(1 << self.taken.min(16));
        self.taken = self.taken.saturating_add(1);
        wait.min(Self::MOST).min(cap.max(Self::FIRST))
    }

    fn reset(&mut self) {
        self.taken = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() {
        let mut backoff = Backoff::default();
        let cap = Duration::from_secs(1);
        let waits: Vec<_> = (0..9).map(|_| backoff.next(cap)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(waits[6], Duration::from_millis(640));
        assert_eq!(waits[8], cap, "never longer than the idle poll");
        backoff.reset();
        assert_eq!(backoff.next(cap), Duration::from_millis(10));
    }
}
