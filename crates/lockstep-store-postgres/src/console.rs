//! The admin console's sign-in links and the sessions they become
//! ([`ConsoleStore`]): one row of `console_sessions` each (migration 0013).
//!
//! **Following a link is one statement.** The update that marks the link
//! used carries the whole condition (`signed_in_at IS NULL AND
//! link_expires_at > now`). Two browsers following the same link at once
//! both reach the row; the second waits for the first's row lock and, under
//! READ COMMITTED, checks the condition again on the row as the first left
//! it, finds it used and changes nothing. So one of them signs in, whatever
//! the number of processes. Only when nothing changed does a second
//! statement read the row, to say why; nothing unmarks a link, so what it
//! finds is why the update refused (but see [`refusal`]).
//!
//! Creating a link is one statement too: it inserts only when the token is
//! the admin's and the admin the tenant's, and its foreign keys lock the
//! rows they check until it commits.

use async_trait::async_trait;
use lockstep_store::{
    Admin, AdminToken, ConsoleOwner, ConsoleSession, ConsoleStore, LinkRedemption, NewConsoleSession, StoreResult,
    Timestamp,
};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::{corrupt, db_error, ms, PgStore};

const SESSION_COLUMNS: &str =
    "id, tenant_id, admin_id, token_id, created_at, link_expires_at, signed_in_at, expires_at, ended_at";

fn session_from_row(row: &PgRow) -> Result<ConsoleSession, sqlx::Error> {
    Ok(ConsoleSession {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        admin_id: row.try_get("admin_id")?,
        token_id: row.try_get("token_id")?,
        created_at: row.try_get("created_at")?,
        link_expires_at: row.try_get("link_expires_at")?,
        signed_in_at: row.try_get("signed_in_at")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// A session's row with its token's and its admin's columns, as
/// `console_session_by_hash` selects them.
fn owner_from_row(row: &PgRow) -> Result<ConsoleOwner, sqlx::Error> {
    let session = session_from_row(row)?;
    let token = AdminToken {
        id: session.token_id,
        tenant_id: row.try_get("token_tenant_id")?,
        admin_id: row.try_get("token_admin_id")?,
        label: row.try_get("token_label")?,
        prefix: row.try_get("token_prefix")?,
        created_at: row.try_get("token_created_at")?,
        expires_at: row.try_get("token_expires_at")?,
        revoked_at: row.try_get("token_revoked_at")?,
    };
    let admin = Admin {
        id: session.admin_id,
        tenant_id: row.try_get("admin_tenant_id")?,
        email: row.try_get("admin_email")?,
        name: row.try_get("admin_name")?,
        created_at: row.try_get("admin_created_at")?,
    };
    Ok(ConsoleOwner { session, token, admin })
}

/// Why a link was not followed, from its row as read after the update
/// refused it: `signed_in_at`, and whether `link_expires_at` is after
/// `now`. A row unused and in time was inserted after the update looked
/// for it (a link is shared only once it is stored, so this is a hash
/// collision more than a race): when the browser came, no link had its
/// hash.
fn refusal(found: Option<(Option<Timestamp>, bool)>) -> LinkRedemption {
    match found {
        Some((Some(_), _)) => LinkRedemption::Used,
        Some((None, false)) => LinkRedemption::Expired,
        Some((None, true)) | None => LinkRedemption::Unknown,
    }
}

#[async_trait]
impl ConsoleStore for PgStore {
    async fn create_console_session(
        &self,
        tenant_id: i64,
        link: NewConsoleSession,
        now: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>> {
        let row = sqlx::query(&format!(
            "INSERT INTO console_sessions (tenant_id, admin_id, token_id, link_hash, link_expires_at, created_at)
             SELECT t.tenant_id, t.admin_id, t.id, $4, $5, $6
             FROM admin_tokens AS t JOIN admins AS a ON a.id = t.admin_id AND a.tenant_id = t.tenant_id
             WHERE t.id = $3 AND t.admin_id = $2 AND t.tenant_id = $1
             RETURNING {SESSION_COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(link.admin_id)
        .bind(link.token_id)
        .bind(&link.link_hash)
        .bind(ms(link.link_expires_at))
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(session_from_row).transpose().map_err(corrupt)
    }

    async fn redeem_console_link(
        &self,
        link_hash: &str,
        session_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<LinkRedemption> {
        let now = ms(now);
        let signed_in = sqlx::query(&format!(
            "UPDATE console_sessions SET signed_in_at = $4, session_hash = $2, expires_at = $3
             WHERE link_hash = $1 AND signed_in_at IS NULL AND link_expires_at > $4
             RETURNING {SESSION_COLUMNS}"
        ))
        .bind(link_hash)
        .bind(session_hash)
        .bind(ms(expires_at))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if let Some(row) = signed_in {
            return Ok(LinkRedemption::SignedIn(session_from_row(&row).map_err(corrupt)?));
        }
        let found: Option<(Option<Timestamp>, bool)> =
            sqlx::query_as("SELECT signed_in_at, link_expires_at > $2 FROM console_sessions WHERE link_hash = $1")
                .bind(link_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(refusal(found))
    }

    /// One probe of `console_sessions_session_hash_key`, then the token and
    /// the admin by their primary keys; committed data only, so a
    /// revocation or a sign-out committed by any process is seen at once.
    async fn console_session_by_hash(&self, session_hash: &str) -> StoreResult<Option<ConsoleOwner>> {
        let row = sqlx::query(
            "SELECT s.id, s.tenant_id, s.admin_id, s.token_id, s.created_at, s.link_expires_at, s.signed_in_at,
                    s.expires_at, s.ended_at,
                    t.tenant_id AS token_tenant_id, t.admin_id AS token_admin_id, t.label AS token_label,
                    t.prefix AS token_prefix, t.created_at AS token_created_at, t.expires_at AS token_expires_at,
                    t.revoked_at AS token_revoked_at,
                    a.tenant_id AS admin_tenant_id, a.email AS admin_email, a.name AS admin_name,
                    a.created_at AS admin_created_at
             FROM console_sessions AS s
             JOIN admin_tokens AS t ON t.id = s.token_id
             JOIN admins AS a ON a.id = s.admin_id
             WHERE s.session_hash = $1",
        )
        .bind(session_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(owner_from_row).transpose().map_err(corrupt)
    }

    async fn end_console_session(&self, tenant_id: i64, session_id: i64, now: Timestamp) -> StoreResult<bool> {
        let ended = sqlx::query(
            "UPDATE console_sessions SET ended_at = COALESCE(ended_at, $3) WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(session_id)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(ended.rows_affected() > 0)
    }
}
