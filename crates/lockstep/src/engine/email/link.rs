//! The link a notification's email carries:
//! `{public_url}/links/notifications/{id}?tenant={tenant_id}&sig={hex}`.
//!
//! The signature is the capability: whoever holds the link may open the
//! page it leads to without signing in, as an admin expects of a link in
//! their mailbox, and nobody can make a link to another notification. It
//! is HMAC-SHA256 over the tenant and the notification ids, under a key
//! derived for this purpose alone from the secret keys
//! ([`Keyring::derived_keys`]): signed with the one from the first key,
//! checked against all of them, so a link sent before a key rotation keeps
//! working while its key stays in `secret_keys`. Checks run in constant
//! time.
//!
//! The tenant id is in the link because the store finds a notification
//! within its tenant; it is no secret, and the signature binds it, so a
//! link cannot be pointed at another tenant. A link never expires by
//! itself: what it shows follows the validity of what it is about (see
//! [`crate::http::links`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secrets::Keyring;

/// What the link keys are derived for; changing it breaks every link sent.
const PURPOSE: &str = "notification link v1";

/// Where the link's page is served, below `public_url`.
pub const LINK_PATH: &str = "/links/notifications";

/// Signs and checks the links of notifications.
#[derive(Clone)]
pub struct LinkSigner {
    /// Never empty; the first signs.
    keys: Vec<Zeroizing<[u8; 32]>>,
}

impl LinkSigner {
    pub fn new(keyring: &Keyring) -> LinkSigner {
        LinkSigner { keys: keyring.derived_keys(PURPOSE) }
    }

    /// The signature of the link to `notification_id` of `tenant_id`, in hex.
    pub fn sign(&self, tenant_id: i64, notification_id: i64) -> String {
        hex::encode(mac(&self.keys[0], tenant_id, notification_id).finalize().into_bytes())
    }

    /// Whether `signature` (hex) is the link's, under any configured key.
    pub fn verify(&self, tenant_id: i64, notification_id: i64, signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else { return false };
        // Every key is tried, whichever matches: the time taken says how
        // many keys are configured, never which one matched or how close
        // a guess came.
        self.keys
            .iter()
            .fold(false, |found, key| mac(key, tenant_id, notification_id).verify_slice(&bytes).is_ok() | found)
    }

    /// The whole link, below `public_url` (with or without a trailing `/`).
    pub fn url(&self, public_url: &str, tenant_id: i64, notification_id: i64) -> String {
        format!(
            "{}{LINK_PATH}/{notification_id}?tenant={tenant_id}&sig={}",
            public_url.trim_end_matches('/'),
            self.sign(tenant_id, notification_id)
        )
    }
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner").field("keys", &self.keys.len()).finish()
    }
}

/// The MAC of a link: a label, then the two ids as fixed-width integers,
/// so no two (tenant, notification) pairs share an input.
fn mac(key: &[u8; 32], tenant_id: i64, notification_id: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"lockstep notification link\0");
    mac.update(&tenant_id.to_be_bytes());
    mac.update(&notification_id.to_be_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretKey;

    fn signer(keys: &[&SecretKey]) -> LinkSigner {
        LinkSigner::new(&Keyring::new(keys.iter().map(|k| (*k).clone()).collect()).unwrap())
    }

    #[test]
    fn a_link_verifies_for_its_tenant_and_notification_only() {
        let signer = signer(&[&SecretKey::generate()]);
        let sig = signer.sign(3, 42);
        assert_eq!(sig.len(), 64, "hex of 32 bytes");
        assert!(signer.verify(3, 42, &sig));
        assert!(!signer.verify(3, 43, &sig), "another notification");
        assert!(!signer.verify(4, 42, &sig), "another tenant");
    }

    #[test]
    fn a_tampered_or_malformed_signature_is_refused() {
        let signer = signer(&[&SecretKey::generate()]);
        let sig = signer.sign(1, 7);
        let mut tampered = sig.clone().into_bytes();
        tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
        assert!(!signer.verify(1, 7, &String::from_utf8(tampered).unwrap()));
        for bad in ["", "zz", &sig[..62], &format!("{sig}00"), &sig.to_uppercase().replace(char::is_numeric, "g")] {
            assert!(!signer.verify(1, 7, bad), "{bad}");
        }
    }

    #[test]
    fn another_installations_keys_do_not_verify_it() {
        let sig = signer(&[&SecretKey::generate()]).sign(1, 7);
        assert!(!signer(&[&SecretKey::generate()]).verify(1, 7, &sig));
    }

    #[test]
    fn a_link_signed_before_a_key_rotation_still_verifies_while_its_key_is_configured() {
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        let before = signer(&[&old]).sign(1, 7);
        let rotated = signer(&[&new, &old]);
        assert!(rotated.verify(1, 7, &before));
        assert_ne!(rotated.sign(1, 7), before, "new links are signed with the new key");
        assert!(signer(&[&new]).verify(1, 7, &rotated.sign(1, 7)));
        assert!(!signer(&[&new]).verify(1, 7, &before), "once the old key is removed, its links stop working");
    }

    #[test]
    fn the_url_names_the_notification_the_tenant_and_the_signature() {
        let signer = signer(&[&SecretKey::generate()]);
        let expected = format!("https://lockstep.example/links/notifications/42?tenant=3&sig={}", signer.sign(3, 42));
        assert_eq!(signer.url("https://lockstep.example/", 3, 42), expected);
        assert_eq!(signer.url("https://lockstep.example", 3, 42), expected);
    }
}
