//! The admin console's sign-in links and browser sessions.

use async_trait::async_trait;

use crate::{ConsoleOwner, ConsoleSession, LinkRedemption, NewConsoleSession, StoreResult, Timestamp};

/// Sign-in links for the admin console and the sessions they become.
///
/// A link is asked for with an admin's token and followed once by a
/// browser; following it stores the session cookie's hash on the same row.
/// Both secrets are kept only as hashes, each behind a unique index.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Stores a new, unused link for an admin of the tenant. `None` when the
    /// tenant has no such admin, or the token is not that admin's;
    /// `Conflict` when the link hash is taken.
    async fn create_console_session(
        &self,
        tenant_id: i64,
        link: NewConsoleSession,
        now: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>>;

    /// Follows a link: one atomic step, so two browsers racing with the
    /// same link get one session between them. An unused link whose
    /// `link_expires_at` is after `now` becomes used at `now`, with the
    /// session's `session_hash` and `expires_at`; otherwise nothing changes
    /// and the answer says why. `Conflict` when the session hash is taken.
    async fn redeem_console_link(
        &self,
        link_hash: &str,
        session_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<LinkRedemption>;

    /// The session with this cookie hash, its token and its admin, whatever
    /// their state: one probe of a unique index, no write.
    async fn console_session_by_hash(&self, session_hash: &str) -> StoreResult<Option<ConsoleOwner>>;

    /// Signs a session out at `now`, unless it was already (it keeps its
    /// first `ended_at`). False when the tenant has no such session.
    async fn end_console_session(&self, tenant_id: i64, session_id: i64, now: Timestamp) -> StoreResult<bool>;
}
