//! Building and running Lockstep: [`App::build`] is what `main`, the demo and
//! the tests all call. It loads the secret keys, opens (and migrates) the
//! store, builds the outbound client, and [`App::run`] serves the API and starts the workers
//! on a listener the caller bound (port 0 in tests).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::connectors::outbound::{AddressGuard, OutboundClient};
use crate::engine::jobs::{JobHandler, JobWorker};
use crate::engine::operations::{OverviewJob, SyncRunJob};
use crate::engine::write_sync::WriteSyncWorker;
use crate::engine::Engine;
use crate::http::AppState;

/// A built Lockstep: store open and migrated, ready to run.
pub struct App {
    pub engine: Engine,
    pub config: Arc<Config>,
}

impl App {
    /// Opens the store named by the config (migrating it) on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`App::build`], with an injected clock (tests run grace periods on a manual clock).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Keys before the store: PostgreSQL without one stops here, before
        // anything is migrated.
        let secrets = Arc::new(crate::secrets::keyring_for(&config)?);
        let store = crate::store::open(&config.database_url).await?;
        let outbound = OutboundClient::new(
            AddressGuard::new(config.outbound_allow.clone()),
            Duration::from_secs_f64(config.outbound.connect_timeout_seconds),
            Duration::from_secs_f64(config.outbound.request_timeout_seconds),
        );
        let engine = Engine::new(store, clock, outbound, secrets);
        Ok(Self { engine, config: Arc::new(config) })
    }

    /// The write-sync worker of this app, for tests that drive it step by step.
    pub fn write_sync_worker(&self) -> WriteSyncWorker {
        WriteSyncWorker::new(self.engine.clone(), self.config.worker.clone())
    }

    /// The job worker of this app (overview runs, Sync Now runs,
    /// notification emails), for tests that drive it step by step.
    pub fn job_worker(&self) -> JobWorker {
        let jobs = &self.config.jobs;
        let handlers: Vec<Arc<dyn JobHandler>> = vec![
            OverviewJob::handler(self.engine.clone(), jobs.overview_concurrency),
            SyncRunJob::handler(
                self.engine.clone(),
                jobs.sync_run_concurrency,
                jobs.sync_run_pushes,
                Duration::from_secs_f64(self.config.worker.lease_seconds),
            ),
            crate::engine::email::email_job(self.engine.clone(), self.config.clone()),
        ];
        JobWorker::new(self.engine.clone(), jobs.clone(), handlers)
    }

    /// Serves the API on `listener` and, when enabled, runs the workers,
    /// until `shutdown` is cancelled.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        if self.config.worker.enabled {
            let worker = self.write_sync_worker();
            let stop = shutdown.clone();
            tasks.spawn(async move { worker.run(stop).await });
            let jobs = self.job_worker();
            let stop = shutdown.clone();
            tasks.spawn(async move { jobs.run(stop).await });
        }
        let router = crate::http::router(AppState::new(self.engine.clone(), self.config.clone()));
        tracing::info!(address = %listener.local_addr()?, "serving the API");
        let stop = shutdown.clone();
        axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await?;
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}
