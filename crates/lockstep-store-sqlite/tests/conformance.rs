//! The store conformance suite, run against SQLite: each case on a fresh
//! database file in its own temporary directory.

use std::sync::Arc;

use lockstep_store::Store;
use lockstep_store_sqlite::SqliteStore;

async fn fresh_store() -> Arc<dyn Store> {
    // The directory is leaked on purpose: it must outlive the store, and the
    // OS temp cleaner removes it; each test process is short-lived.
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    let store =
        SqliteStore::open(dir.join("lockstep.db").to_str().expect("a UTF-8 path")).await.expect("the store opens");
    store.migrate().await.expect("migrations apply");
    Arc::new(store)
}

lockstep_store::conformance_tests!(fresh_store());
