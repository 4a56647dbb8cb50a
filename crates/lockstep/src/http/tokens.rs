//! Bearer tokens of admins: how they are made and how they are found again.
//!
//! A token is `lst_` followed by 32 random bytes in unpadded base64url (256
//! bits, so guessing is hopeless and a slow hash buys nothing). The store
//! keeps only the token's SHA-256, in lowercase hex: a leaked database does
//! not leak working tokens, and a lookup is one indexed equality match. The
//! `lst_` prefix lets secret scanners recognise a leaked token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix of every admin token.
pub const TOKEN_PREFIX: &str = "lst_";

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

/// Compares two secrets in time independent of where they differ. Both are
/// hashed first, so the comparison does not leak their lengths either.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq("operator-token-1", "operator-token-1"));
        assert!(!constant_time_eq("operator-token-1", "operator-token-2"));
        assert!(!constant_time_eq("operator-token-1", "operator-token-"));
    }
}
