//! Secrets at rest: the credentials an integration sends to its third party
//! (a SCIM bearer token today) are encrypted before they reach the store,
//! and decrypted only where a connector is built for a push. The store keeps
//! what it is given and never sees a secret in clear; a database file, a
//! `pg_dump` or a backup holds ciphertext only.
//!
//! # The cipher
//!
//! XChaCha20-Poly1305 from RustCrypto's `chacha20poly1305`. We chose it over
//! AES-256-GCM (`aes-gcm`) for its nonces: 192 random bits per encryption
//! never repeat in practice, so any number of processes sharing one
//! PostgreSQL and one key encrypt with no counter between them and no limit
//! to count. GCM's 96-bit nonces, drawn at random, are only safe for about
//! 2³² encryptions under one key, and a repeated GCM nonce gives away the
//! authentication key. XChaCha20 is also constant-time in plain software,
//! where AES needs hardware support to be both fast and free of timing
//! leaks. Both are authenticated: a changed byte fails decryption rather
//! than yielding a wrong token.
//!
//! # The stored form
//!
//! A secret in a spec is `{"encrypted": "v1.<key id>.<payload>"}`
//! ([`Credential::Sealed`]), where the payload is unpadded URL-safe base64
//! of the 24-byte nonce, the ciphertext and the 16-byte tag. The key id
//! ([`KeyId`]) is 8 hex digits of a hash of the key: it names the key
//! without revealing it, so decryption picks the right key at once.
//!
//! # What a ciphertext is bound to
//!
//! The associated data holds the format version, the key id, the tenant, the
//! field (`connector.bearer_token`) and the origin (scheme, host, port) of
//! the URL the secret is sent to ([`SecretContext`]). A ciphertext copied to
//! another tenant's row, to another field, or left under a base URL that
//! someone changed to another host in the database, fails to decrypt
//! instead of sending one party's token to another's server. The integration
//! id would bind tighter still, but the store assigns it on insert, after
//! the spec was encrypted; binding it would take a second write or ids
//! handed out before the insert. Within one tenant, the origin does the
//! work the id would: a token can only travel with its own third party.
//!
//! # Keys
//!
//! `secret_keys` (`LOCKSTEP_SECRET_KEYS`) lists one or more 32-byte keys in
//! base64 ([`SecretKey`], made by `lockstep secret-key`). The first
//! encrypts; all decrypt ([`Keyring`]). To rotate, put a new key first and
//! keep the old ones after it: secrets are encrypted under the new key when
//! their integration is next written. On the embedded SQLite default with no
//! key configured, one is made at first start and kept beside the database
//! ([`key_file`]); PostgreSQL refuses to start without one, since every
//! process must hold the same key.
//!
//! The same keys sign too, through keys derived from them for one purpose
//! each ([`Keyring::derived_keys`]): the links in notification emails
//! ([`crate::engine::email::link`]). Links signed under a key keep working
//! while it stays among the keys; removing it retires them.

mod credential;
mod key;
pub mod key_file;
mod keyring;

pub use credential::Credential;
pub use key::{KeyError, KeyId, SecretKey};
pub use keyring::{Keyring, OpenError, SecretContext};

use crate::config::Config;

/// The keyring a configuration names: the configured keys, then, on SQLite,
/// the key file beside the database (made when no key is configured).
pub fn keyring_for(config: &Config) -> anyhow::Result<Keyring> {
    let mut keys = config.secret_keys.clone();
    match config.database_url.strip_prefix("sqlite://") {
        Some(database) => {
            let path = key_file::path_for(database);
            if keys.is_empty() {
                let (key, made) = key_file::load_or_create(&path)?;
                if made {
                    tracing::info!(path = %path.display(), key_id = %key.id(), "made a secret key for the embedded database");
                }
                keys.push(key);
            } else if let Some(key) = key_file::load(&path)? {
                // Secrets written under the generated key stay readable after
                // an operator configures keys of their own.
                keys.push(key);
            }
        }
        None => anyhow::ensure!(
            !keys.is_empty(),
            "secret_keys is not set: on PostgreSQL every Lockstep process must encrypt connector credentials \
             with the same key. Make one with `lockstep secret-key` and give it to every process as \
             LOCKSTEP_SECRET_KEYS=<key>"
        ),
    }
    let keyring = Keyring::new(dedup(keys))?;
    tracing::info!(encrypts_with = %keyring.primary_id(), decrypts_with = ?keyring.key_ids(), "secret keys loaded");
    Ok(keyring)
}

/// The keys in order, each once (the key file may repeat a configured key).
fn dedup(keys: Vec<SecretKey>) -> Vec<SecretKey> {
    let mut out: Vec<SecretKey> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}
