//! The configured keys: the first encrypts, every one decrypts, each
//! ciphertext names the key that made it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::key::{KeyId, SecretKey};

/// The format of a sealed secret; part of the associated data, so a future
/// format cannot be confused with this one.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 24;

/// Where a secret belongs: what its ciphertext is bound to (see the module
/// doc of [`crate::secrets`]).
#[derive(Debug, Clone, Copy)]
pub struct SecretContext<'a> {
    pub tenant_id: i64,
    /// The field's path in the API, e.g. `connector.bearer_token`.
    pub field: &'a str,
    /// The origin (`scheme://host:port`) of the URL the secret is sent to.
    pub origin: &'a str,
}

impl SecretContext<'_> {
    fn associated_data(&self, key_id: KeyId) -> Vec<u8> {
        // A JSON array: unambiguous whatever the parts contain.
        serde_json::to_vec(&("lockstep secret", VERSION, key_id.to_string(), self.tenant_id, self.field, self.origin))
            .expect("a tuple of strings and a number serialises")
    }
}

/// Why a sealed secret could not be read back. The messages name the cause
/// and what to do, and never hold the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the stored secret is not in a form this version of Lockstep reads")]
    Malformed,
    #[error(
        "it was encrypted under secret key {key_id}, which is not among the configured secret_keys \
         ({configured}); put that key back in secret_keys, or send a new value"
    )]
    UnknownKey { key_id: KeyId, configured: String },
    #[error(
        "it does not decrypt under secret key {key_id}: the stored value was altered, or moved from another \
         tenant, field or base URL origin; send a new value"
    )]
    Rejected { key_id: KeyId },
}

/// The keys secrets are encrypted and decrypted with.
#[derive(Clone)]
pub struct Keyring {
    /// Never empty; the first encrypts.
    keys: Vec<SecretKey>,
}

impl Keyring {
    /// A keyring of `keys`, the first of which encrypts. Refuses an empty
    /// list and two keys with the same id.
    pub fn new(keys: Vec<SecretKey>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "at least one secret key is needed");
        for (i, key) in keys.iter().enumerate() {
            anyhow::ensure!(
                !keys[..i].iter().any(|other| other.id() == key.id()),
                "two secret keys share the id {}; generate another key with `lockstep secret-key`",
                key.id()
            );
        }
        Ok(Self { keys })
    }

    /// The id of the key that encrypts.
    pub fn primary_id(&self) -> KeyId {
        self.keys[0].id()
    }

    /// The ids of every key, the encrypting one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(SecretKey::id).collect()
    }

    /// Encrypts `clear` under the first key, bound to `context`; answers the
    /// sealed text (`v1.<key id>.<payload>`).
    pub fn seal(&self, context: &SecretContext<'_>, clear: &str) -> String {
        let key = &self.keys[0];
        let cipher = XChaCha20Poly1305::new(key.bytes().into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = context.associated_data(key.id());
        let sealed = cipher
            .encrypt(&nonce, Payload { msg: clear.as_bytes(), aad: &aad })
            .expect("XChaCha20-Poly1305 encrypts any message shorter than 256 GiB");
        let mut payload = Vec::with_capacity(NONCE_BYTES + sealed.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", key.id(), URL_SAFE_NO_PAD.encode(payload))
    }

    /// The id of the key a sealed text names, when it is in a known form.
    pub fn key_id_of(sealed: &str) -> Option<KeyId> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next()) {
            (Some(VERSION), Some(id)) => KeyId::parse(id),
            _ => None,
        }
    }

    /// Whether `sealed` was made by the key that encrypts now.
    pub fn is_current(&self, sealed: &str) -> bool {
        Self::key_id_of(sealed) == Some(self.primary_id())
    }

    /// Keys for one `purpose` of message authentication (signing the links
    /// in emails, say), one derived from each configured key, the one from
    /// the encrypting key first: sign with the first, accept any, so a
    /// signature made before a rotation verifies while its key is still
    /// configured. Each is HMAC-SHA256 of a label naming `purpose` under the
    /// configured key, so no two purposes, and never the cipher, share a key.
    pub fn derived_keys(&self, purpose: &str) -> Vec<Zeroizing<[u8; 32]>> {
        use hmac::{Hmac, Mac};
        self.keys
            .iter()
            .map(|key| {
                let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key");
                mac.update(b"lockstep derived key\0");
                mac.update(purpose.as_bytes());
                Zeroizing::new(mac.finalize().into_bytes().into())
            })
            .collect()
    }

    /// Decrypts a sealed text with the key it names, checking it belongs to `context`.
    pub fn open(&self, context: &SecretContext<'_>, sealed: &str) -> Result<Zeroizing<String>, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Malformed);
        };
        let key_id = KeyId::parse(id).ok_or(OpenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| OpenError::Malformed)?;
        if payload.len() < NONCE_BYTES {
            return Err(OpenError::Malformed);
        }
        let Some(key) = self.keys.iter().find(|k| k.id() == key_id) else {
            let configured = self.key_ids().iter().map(KeyId::to_string).collect::<Vec<_>>().join(", ");
            return Err(OpenError::UnknownKey { key_id, configured });
        };
        let (nonce, ciphertext) = payload.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new(key.bytes().into());
        let aad = context.associated_data(key_id);
        let clear = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| OpenError::Rejected { key_id })?;
        let clear = Zeroizing::new(clear);
        String::from_utf8(clear.to_vec()).map(Zeroizing::new).map_err(|_| OpenError::Rejected { key_id })
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.key_ids()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: SecretContext<'static> =
        SecretContext { tenant_id: 1, field: "connector.bearer_token", origin: "https://scim.example" };

    fn ring(keys: &[&SecretKey]) -> Keyring {
        Keyring::new(keys.iter().map(|k| (*k).clone()).collect()).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_in_its_context_and_does_not_hold_the_clear_text() {
        let a = SecretKey::generate();
        let keys = ring(&[&a]);
        let sealed = keys.seal(&ACME, "token-1234567890");
        assert!(sealed.starts_with(&format!("v1.{}.", a.id())), "{sealed}");
        assert!(!sealed.contains("token-1234567890"));
        assert_eq!(keys.open(&ACME, &sealed).unwrap().as_str(), "token-1234567890");
    }

    #[test]
    fn each_seal_draws_a_new_nonce() {
        let keys = ring(&[&SecretKey::generate()]);
        assert_ne!(keys.seal(&ACME, "same"), keys.seal(&ACME, "same"));
    }

    #[test]
    fn another_tenant_field_or_origin_cannot_open_it() {
        let keys = ring(&[&SecretKey::generate()]);
        let sealed = keys.seal(&ACME, "t");
        for other in [
            SecretContext { tenant_id: 2, ..ACME },
            SecretContext { field: "connector.password", ..ACME },
            SecretContext { origin: "https://evil.example", ..ACME },
        ] {
            assert!(matches!(keys.open(&other, &sealed), Err(OpenError::Rejected { .. })), "{other:?}");
        }
    }

    #[test]
    fn the_first_key_encrypts_and_every_key_decrypts() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let under_a = ring(&[&a]).seal(&ACME, "t");
        let rotated = ring(&[&b, &a]);
        assert_eq!(rotated.open(&ACME, &under_a).unwrap().as_str(), "t");
        assert!(!rotated.is_current(&under_a));
        let under_b = rotated.seal(&ACME, "t");
        assert!(rotated.is_current(&under_b));
        assert_eq!(Keyring::key_id_of(&under_b), Some(b.id()));
    }

    #[test]
    fn a_removed_key_is_named_in_the_error() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let under_a = ring(&[&a]).seal(&ACME, "t");
        let err = ring(&[&b]).open(&ACME, &under_a).unwrap_err();
        assert_eq!(err, OpenError::UnknownKey { key_id: a.id(), configured: b.id().to_string() });
        let message = err.to_string();
        assert!(message.contains(&a.id().to_string()) && message.contains("secret_keys"), "{message}");
    }

    #[test]
    fn a_tampered_or_garbled_value_is_an_error_not_a_panic() {
        let keys = ring(&[&SecretKey::generate()]);
        let sealed = keys.seal(&ACME, "t");
        let mut tampered = sealed.clone().into_bytes();
        // Not the last character: its low bits may be padding, which
        // decoding ignores, so changing it may change nothing.
        let inner = tampered.len() - 5;
        tampered[inner] = if tampered[inner] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(keys.open(&ACME, &tampered), Err(OpenError::Rejected { .. })));
        for garbled in ["", "v1", "v1.zz.AAAA", "v2.00000000.AAAA", "v1.00000000.!!", "v1.00000000.AAAA"] {
            assert!(keys.open(&ACME, garbled).is_err(), "{garbled}");
        }
    }

    #[test]
    fn derived_keys_follow_the_configured_order_and_differ_per_purpose() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let links = ring(&[&b, &a]).derived_keys("links");
        assert_eq!(links.len(), 2);
        assert_eq!(*links[1], *ring(&[&a]).derived_keys("links")[0], "a key derives the same key in any keyring");
        assert_ne!(*links[0], *links[1]);
        assert_ne!(*links[0], *ring(&[&b]).derived_keys("other")[0]);
        assert_ne!(&links[0][..], &b.bytes()[..], "never the cipher's key itself");
    }

    #[test]
    fn two_keys_with_one_id_are_refused() {
        let a = SecretKey::generate();
        assert!(Keyring::new(vec![a.clone(), a]).is_err());
        assert!(Keyring::new(Vec::new()).is_err());
    }
}
