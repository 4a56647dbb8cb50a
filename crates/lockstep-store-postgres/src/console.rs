//! The admin console's sign-in links and sessions (being written).

use async_trait::async_trait;
use lockstep_store::{
    ConsoleOwner, ConsoleSession, ConsoleStore, LinkRedemption, NewConsoleSession, StoreError, StoreResult, Timestamp,
};

use crate::PgStore;

#[async_trait]
impl ConsoleStore for PgStore {
    async fn create_console_session(
        &self,
        _tenant_id: i64,
        _link: NewConsoleSession,
        _now: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>> {
        Err(StoreError::Refused("not yet".into()))
    }

    async fn redeem_console_link(
        &self,
        _link_hash: &str,
        _session_hash: &str,
        _expires_at: Timestamp,
        _now: Timestamp,
    ) -> StoreResult<LinkRedemption> {
        Err(StoreError::Refused("not yet".into()))
    }

    async fn console_session_by_hash(&self, _session_hash: &str) -> StoreResult<Option<ConsoleOwner>> {
        Err(StoreError::Refused("not yet".into()))
    }

    async fn end_console_session(&self, _tenant_id: i64, _session_id: i64, _now: Timestamp) -> StoreResult<bool> {
        Err(StoreError::Refused("not yet".into()))
    }
}
