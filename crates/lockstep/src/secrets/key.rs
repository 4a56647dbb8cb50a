//! One secret key: 32 random bytes, written as base64 (44 characters), and
//! the short id that names it in every ciphertext it made.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The length of a key, in bytes.
pub const KEY_BYTES: usize = 32;

/// A key that encrypts and decrypts secrets. Its bytes are wiped when it is
/// dropped and never shown by `Debug`, which prints the id only.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Zeroizing<[u8; KEY_BYTES]>,
    id: KeyId,
}

/// Names a key without revealing it: the first 4 bytes of SHA-256 over a
/// label and the key, shown as 8 hex digits. Stored beside every
/// ciphertext; two configured keys may not share one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

/// Why a text is not a key. The text itself is never repeated: it may be a
/// key with a typo in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not base64")]
    NotBase64,
    #[error("is {0} bytes long; a key is 32 bytes of base64 (44 characters)")]
    WrongLength(usize),
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        OsRng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    /// Reads a key written as base64 (standard alphabet, padding optional;
    /// surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            STANDARD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).map_err(|_| KeyError::NotBase64)?,
        );
        let bytes: [u8; KEY_BYTES] = decoded.as_slice().try_into().map_err(|_| KeyError::WrongLength(decoded.len()))?;
        Ok(Self::from_bytes(Zeroizing::new(bytes)))
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEY_BYTES]>) -> Self {
        let digest = Sha256::new().chain_update(b"lockstep secret key id\0").chain_update(bytes.as_ref()).finalize();
        let id = KeyId([digest[0], digest[1], digest[2], digest[3]]);
        Self { bytes, id }
    }

    /// The key as base64, as `lockstep secret-key` prints it and the key
    /// file holds it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.bytes
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.as_ref() == other.bytes.as_ref()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl KeyId {
    /// Reads 8 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 4] = hex::decode(text).ok()?.try_into().ok()?;
        Some(Self(bytes))
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_the_same_id() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        let read = SecretKey::parse(&format!("  {}\n", text.as_str())).unwrap();
        assert_eq!(read, key);
        assert_eq!(read.id(), key.id());
        assert_eq!(KeyId::parse(&key.id().to_string()), Some(key.id()));
    }

    #[test]
    fn padding_is_optional() {
        let key = SecretKey::generate();
        let unpadded = key.to_base64().trim_end_matches('=').to_owned();
        assert_eq!(SecretKey::parse(&unpadded).unwrap(), key);
    }

    #[test]
    fn a_short_or_garbled_key_is_refused_without_repeating_it() {
        assert_eq!(SecretKey::parse("c2hvcnQ=").unwrap_err(), KeyError::WrongLength(5));
        assert_eq!(SecretKey::parse("not base64 at all!").unwrap_err(), KeyError::NotBase64);
        assert!(!KeyError::NotBase64.to_string().contains("not base64 at all"));
    }

    #[test]
    fn debug_shows_the_id_and_not_the_key() {
        let key = SecretKey::generate();
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.id().to_string()), "{shown}");
        assert!(!shown.contains(key.to_base64().as_str()), "{shown}");
    }

    #[test]
    fn different_keys_have_different_ids() {
        assert_ne!(SecretKey::generate().id(), SecretKey::generate().id());
    }
}
