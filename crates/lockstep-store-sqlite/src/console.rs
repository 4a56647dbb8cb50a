//! The admin console's sign-in links and the sessions they become
//! ([`ConsoleStore`]): one row of `console_sessions` each (migration 0009).
//!
//! Creating a link is one statement that inserts only when the token is the
//! admin's and the admin the tenant's, so nothing can come between the
//! check and the insert. Following a link is one `IMMEDIATE` transaction:
//! the update that marks an unused link in time as used, with its session,
//! and, when that changed nothing, the read that says why. SQLite has one
//! writer, so two browsers following the same link take turns, and the
//! second finds it used.

use async_trait::async_trait;
use lockstep_store::{
    ConsoleOwner, ConsoleSession, ConsoleStore, LinkRedemption, NewConsoleSession, StoreResult, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::codec::{ms, opt_time, time};
use crate::tenants::{admin_at, prefixed, token_at, ADMIN_COLUMNS, TOKEN_COLUMNS};
use crate::{db_error, SqliteStore};

const SESSION_COLUMNS: &str =
    "id, tenant_id, admin_id, token_id, created_at, link_expires_at, signed_in_at, expires_at, ended_at";
/// How many columns [`SESSION_COLUMNS`] names.
const SESSION_WIDTH: usize = 9;

fn session(row: &Row<'_>) -> rusqlite::Result<ConsoleSession> {
    Ok(ConsoleSession {
        id: row.get(0)?,
        tenant_id: row.get(1)?,
        admin_id: row.get(2)?,
        token_id: row.get(3)?,
        created_at: time(row.get(4)?)?,
        link_expires_at: time(row.get(5)?)?,
        signed_in_at: opt_time(row.get(6)?)?,
        expires_at: opt_time(row.get(7)?)?,
        ended_at: opt_time(row.get(8)?)?,
    })
}

fn create(
    conn: &Connection,
    tenant_id: i64,
    link: &NewConsoleSession,
    now: Timestamp,
) -> StoreResult<Option<ConsoleSession>> {
    conn.prepare_cached(&format!(
        "INSERT INTO console_sessions (tenant_id, admin_id, token_id, link_hash, link_expires_at, created_at)
         SELECT t.tenant_id, t.admin_id, t.id, ?4, ?5, ?6
         FROM admin_tokens AS t JOIN admins AS a ON a.id = t.admin_id AND a.tenant_id = t.tenant_id
         WHERE t.id = ?3 AND t.admin_id = ?2 AND t.tenant_id = ?1
         RETURNING {SESSION_COLUMNS}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![tenant_id, link.admin_id, link.token_id, link.link_hash, ms(link.link_expires_at), ms(now)],
            session,
        )
        .optional()
    })
    .map_err(db_error)
}

fn redeem(
    conn: &mut Connection,
    link_hash: &str,
    session_hash: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<LinkRedemption> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
    let signed_in = tx
        .prepare_cached(&format!(
            "UPDATE console_sessions SET signed_in_at = ?4, session_hash = ?2, expires_at = ?3
             WHERE link_hash = ?1 AND signed_in_at IS NULL AND link_expires_at > ?4
             RETURNING {SESSION_COLUMNS}"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(params![link_hash, session_hash, ms(expires_at), ms(now)], session).optional()
        })
        .map_err(db_error)?;
    let redemption = match signed_in {
        Some(signed_in) => LinkRedemption::SignedIn(signed_in),
        None => {
            // Under the same write lock as the update: a link found unused
            // here is one the update refused for its time.
            let found: Option<Option<i64>> = tx
                .prepare_cached("SELECT signed_in_at FROM console_sessions WHERE link_hash = ?1")
                .and_then(|mut stmt| stmt.query_row([link_hash], |r| r.get(0)).optional())
                .map_err(db_error)?;
            match found {
                None => LinkRedemption::Unknown,
                Some(Some(_)) => LinkRedemption::Used,
                Some(None) => LinkRedemption::Expired,
            }
        }
    };
    tx.commit().map_err(db_error)?;
    Ok(redemption)
}

/// One probe of the unique index on `session_hash`, then the token and the
/// admin by their keys.
fn by_hash(conn: &Connection, session_hash: &str) -> StoreResult<Option<ConsoleOwner>> {
    let columns =
        [prefixed(SESSION_COLUMNS, "s"), prefixed(TOKEN_COLUMNS, "t"), prefixed(ADMIN_COLUMNS, "a")].join(", ");
    conn.prepare_cached(&format!(
        "SELECT {columns} FROM console_sessions AS s
         JOIN admin_tokens AS t ON t.id = s.token_id
         JOIN admins AS a ON a.id = s.admin_id
         WHERE s.session_hash = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([session_hash], |row| {
            let token = token_at(row, SESSION_WIDTH)?;
            let admin = admin_at(row, SESSION_WIDTH + TOKEN_COLUMNS.split(", ").count())?;
            Ok(ConsoleOwner { session: session(row)?, token, admin })
        })
        .optional()
    })
    .map_err(db_error)
}

fn end(conn: &Connection, tenant_id: i64, session_id: i64, now: Timestamp) -> StoreResult<bool> {
    conn.prepare_cached(
        "UPDATE console_sessions SET ended_at = COALESCE(ended_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
    )
    .and_then(|mut stmt| stmt.execute(params![tenant_id, session_id, ms(now)]))
    .map(|changed| changed > 0)
    .map_err(db_error)
}

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn create_console_session(
        &self,
        tenant_id: i64,
        link: NewConsoleSession,
        now: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>> {
        self.write(|conn| create(conn, tenant_id, &link, now))
    }

    async fn redeem_console_link(
        &self,
        link_hash: &str,
        session_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<LinkRedemption> {
        self.write(|conn| redeem(conn, link_hash, session_hash, expires_at, now))
    }

    async fn console_session_by_hash(&self, session_hash: &str) -> StoreResult<Option<ConsoleOwner>> {
        self.read(|conn| by_hash(conn, session_hash))
    }

    async fn end_console_session(&self, tenant_id: i64, session_id: i64, now: Timestamp) -> StoreResult<bool> {
        self.write(|conn| end(conn, tenant_id, session_id, now))
    }
}
