//! The rows of the admin console's sign-in: one-time links and the browser
//! sessions they become.

use serde::{Deserialize, Serialize};

use crate::{Admin, AdminToken, Timestamp};

/// A sign-in link an admin's token asked for, and, once followed, the
/// browser session it became. Kept by the hashes of its two secrets (the
/// link's and the session cookie's), never the secrets themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub id: i64,
    pub tenant_id: i64,
    pub admin_id: i64,
    /// The token whose holder asked for the link: the session reaches what
    /// that token reaches, and ends when it is revoked or expires.
    pub token_id: i64,
    pub created_at: Timestamp,
    /// The link works until then, once.
    pub link_expires_at: Timestamp,
    /// When the link was followed; `None` while it is unused.
    pub signed_in_at: Option<Timestamp>,
    /// When the session ends by itself; set at sign-in.
    pub expires_at: Option<Timestamp>,
    /// When the admin signed out.
    pub ended_at: Option<Timestamp>,
}

/// A sign-in link to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsoleSession {
    pub admin_id: i64,
    pub token_id: i64,
    /// The SHA-256 (lowercase hex) of the link's secret.
    pub link_hash: String,
    pub link_expires_at: Timestamp,
}

/// What following a sign-in link did.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkRedemption {
    /// The link was unused and in time: it is now used, and the session
    /// holds the cookie's hash.
    SignedIn(ConsoleSession),
    /// The link was followed before (whether or not its session lasts).
    Used,
    /// The link was never followed and its time is up.
    Expired,
    /// No link has this hash.
    Unknown,
}

/// A session found by its cookie's hash, with the token it lives by and
/// the admin. Whether it may still be used (signed out, expired, token
/// revoked or expired) is the caller's to judge, by its clock.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleOwner {
    pub session: ConsoleSession,
    pub token: AdminToken,
    pub admin: Admin,
}
