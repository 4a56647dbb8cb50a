//! Opening the store a database URL names: `sqlite://PATH` (embedded
//! default) or `postgres://…` (shared by any number of processes).

use std::sync::Arc;

use anyhow::Context;
use lockstep_store::Store;

/// Opens and migrates the store behind `database_url`.
pub async fn open(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if let Some(path) = database_url.strip_prefix("sqlite://") {
        Arc::new(
            lockstep_store_sqlite::SqliteStore::open(path)
                .await
                .with_context(|| format!("opening SQLite database {path}"))?,
        )
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Arc::new(
            lockstep_store_postgres::PgStore::connect(database_url)
                .await
                .with_context(|| format!("connecting to {}", crate::config::redact_url(database_url)))?,
        )
    } else {
        anyhow::bail!("database_url must start with sqlite:// or postgres://");
    };
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}
