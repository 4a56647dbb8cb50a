//! Bearer tokens of admins: how they are made, how they are found again,
//! and when a found one is refused.
//!
//! A token is `lst_` followed by 32 random bytes in unpadded base64url (256
//! bits, so guessing is hopeless and a slow hash buys nothing). The store
//! keeps only the token's SHA-256, in lowercase hex, and its first
//! [`PREFIX_LEN`] characters: a leaked database does not leak working
//! tokens, a lookup is one indexed equality match, and a listing can show
//! which token is which (the prefix gives away 36 of the 256 random bits).
//! The `lst_` prefix lets secret scanners recognise a leaked token.
//!
//! **Every request asks the store.** A token is looked up on every request,
//! never held in memory, so a token revoked (or an admin's token expired)
//! through any process is refused by every process on its very next
//! request. The lookup is one probe of a unique index and writes nothing.
//!
//! **Unknown tokens cost what known ones cost.** Whatever the caller sends
//! as a bearer token is hashed and looked up, the same way: there is no
//! early answer for a token without the `lst_` prefix or of the wrong
//! length, so the time of a refusal does not tell a well-formed guess from
//! a malformed one, nor either from a real token. What remains is inherent
//! and harmless: hashing takes time in proportion to the header's length
//! (which the caller chose and already knows), and the index compares
//! SHA-256 digests, so its timing can at most reveal how a digest of the
//! caller's choosing sorts among stored digests — which says nothing about
//! any token, since digests cannot be inverted. Revoked, expired and
//! unknown tokens all get a 401 after the same one probe; the detail says
//! which, since only the holder of a token can send it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use lockstep_store::{Admin, NewToken, TokenOwner};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::http::problem::ApiError;

/// The prefix of every admin token.
pub const TOKEN_PREFIX: &str = "lst_";
/// How many leading characters of a token are kept to recognise it by:
/// `lst_` and six of the random ones.
pub const PREFIX_LEN: usize = 10;

/// A new random admin token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The lowercase hex SHA-256 of a token: what the store keeps and looks up.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What the store keeps of a new `token`: its hash and its prefix.
pub fn stored(token: &str, label: Option<String>, expires_at: Option<DateTime<Utc>>) -> NewToken {
    NewToken { token_hash: hash(token), prefix: token.chars().take(PREFIX_LEN).collect(), label, expires_at }
}

/// Whether a token can be used at a time, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    /// A revoked token is revoked whatever its expiry; otherwise it expires
    /// at its `expires_at` (a token is refused from that instant on).
    pub fn at(token: &lockstep_store::AdminToken, now: DateTime<Utc>) -> TokenStatus {
        if token.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if token.expires_at.is_some_and(|expires_at| expires_at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// The admin a looked-up token lets in at `now`, or the 401 it gets.
pub fn admit(found: Option<TokenOwner>, now: DateTime<Utc>) -> Result<Admin, ApiError> {
    let Some(TokenOwner { token, admin }) = found else {
        return Err(ApiError::bad_token());
    };
    match TokenStatus::at(&token, now) {
        TokenStatus::Active => Ok(admin),
        TokenStatus::Revoked => Err(refused("the bearer token was revoked")),
        TokenStatus::Expired => Err(refused("the bearer token has expired")),
    }
}

/// A 401 for a token that was known but can no longer be used.
fn refused(detail: &str) -> ApiError {
    ApiError::Unauthorized { detail: detail.into(), invalid_token: true }
}

/// Compares two secrets in time independent of where they differ. Both are
/// hashed first, so the comparison does not leak their lengths either.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lockstep_store::AdminToken;

    #[test]
    fn tokens_are_prefixed_random_and_url_safe() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with("lst_") && a.len() == 4 + 43, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_store_keeps_the_hash_and_the_first_ten_characters() {
        let kept = stored("lst_abcdefghijklmnop", Some("CI".into()), None);
        assert_eq!(kept.token_hash, hash("lst_abcdefghijklmnop"));
        assert_eq!(kept.prefix, "lst_abcdef");
        assert_eq!(kept.label.as_deref(), Some("CI"));
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq("operator-token-1", "operator-token-1"));
        assert!(!constant_time_eq("operator-token-1", "operator-token-2"));
        assert!(!constant_time_eq("operator-token-1", "operator-token-"));
    }

    fn owner(expires_at: Option<DateTime<Utc>>, revoked_at: Option<DateTime<Utc>>) -> TokenOwner {
        let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let admin = Admin { id: 1, tenant_id: 2, email: "a@b.test".into(), name: "A".into(), created_at: t0 };
        let token = AdminToken {
            id: 3,
            tenant_id: 2,
            admin_id: 1,
            label: None,
            prefix: None,
            created_at: t0,
            expires_at,
            revoked_at,
        };
        TokenOwner { token, admin }
    }

    #[test]
    fn a_token_is_refused_from_its_expiry_on_and_once_revoked() {
        let t = |secs| Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, secs).unwrap();
        assert_eq!(admit(Some(owner(None, None)), t(5)).unwrap().id, 1);
        assert!(admit(Some(owner(Some(t(10)), None)), t(9)).is_ok(), "before its expiry");
        let expired = admit(Some(owner(Some(t(10)), None)), t(10)).unwrap_err();
        assert!(expired.to_string().contains("expired"), "{expired}");
        let revoked = admit(Some(owner(Some(t(10)), Some(t(1)))), t(2)).unwrap_err();
        assert!(revoked.to_string().contains("revoked"), "{revoked}");
        assert_eq!(admit(None, t(0)).unwrap_err().status(), axum::http::StatusCode::UNAUTHORIZED);
    }
}
