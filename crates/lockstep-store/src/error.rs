//! Errors a store reports, in terms the product understands.

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in a store call, independent of the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (duplicate email, name…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An optimistic write found a different version than the caller read.
    #[error("version conflict on record {external_id}: expected {expected}, found {found}")]
    VersionConflict {
        /// The record's id as the client knows it.
        external_id: String,
        /// The version the caller expected.
        expected: i64,
        /// The version the store holds (0 when the record does not exist).
        found: i64,
    },
    /// The write was planned with integrations that have changed since
    /// (see [`crate::SyncPlanner::integrations_version`]); nothing was
    /// stored. The caller plans again with the integrations as they are.
    #[error("the tenant's integrations changed (version {planned} planned, {current} current)")]
    IntegrationsChanged {
        /// The version the planner was made with.
        planned: i64,
        /// The version the store holds.
        current: i64,
    },
    /// The database refused a value itself (text it cannot hold, such as a
    /// NUL character on PostgreSQL, or a value too large): the same write
    /// will never succeed, unlike a [`StoreError::Database`] error.
    #[error("the database refused a value: {0}")]
    Refused(String),
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(String),
    /// The stored data could not be decoded (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}
