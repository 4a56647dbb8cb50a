//! A secret as an integration's spec holds it: in clear as an admin sends it
//! (and as installations before encryption stored it), or sealed as the
//! store keeps it now.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::keyring::{Keyring, OpenError, SecretContext};

/// One secret of an integration's spec.
///
/// In JSON, `Clear` is a string and `Sealed` is `{"encrypted": "v1.…"}`, so
/// a spec stored before encryption (a string) still reads, and is sealed
/// when it is next written ([`Credential::sealed`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Clear(String),
    /// The sealed text, checked only when opened: a malformed one fails the
    /// integration's syncs, not every read of its spec.
    Sealed(String),
}

impl Credential {
    /// The secret in clear, for building a connector.
    pub fn reveal(&self, keyring: &Keyring, context: &SecretContext<'_>) -> Result<Zeroizing<String>, OpenError> {
        match self {
            Credential::Clear(clear) => Ok(Zeroizing::new(clear.clone())),
            Credential::Sealed(sealed) => keyring.open(context, sealed),
        }
    }

    /// The form to store: sealed under the keyring's first key. A secret
    /// sealed under an older key is sealed again under the first; one that
    /// no configured key opens is kept as it is (its syncs fail, saying
    /// why, until it is replaced or its key returns).
    pub fn sealed(&self, keyring: &Keyring, context: &SecretContext<'_>) -> Credential {
        match self {
            Credential::Clear(clear) => Credential::Sealed(keyring.seal(context, clear)),
            Credential::Sealed(sealed) if keyring.is_current(sealed) => self.clone(),
            Credential::Sealed(sealed) => match keyring.open(context, sealed) {
                Ok(clear) => Credential::Sealed(keyring.seal(context, &clear)),
                Err(error) => {
                    tracing::warn!(field = context.field, tenant_id = context.tenant_id, %error,
                        "a stored secret cannot be sealed under the current key");
                    self.clone()
                }
            },
        }
    }

    /// Whether an admin sent this (a string) rather than the store keeping it.
    pub fn is_clear(&self) -> bool {
        matches!(self, Credential::Clear(_))
    }
}

impl std::fmt::Debug for Credential {
    // The clear text never reaches a log line; a sealed one is harmless but
    // says nothing useful either, beyond the key that made it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Clear(_) => f.write_str("Clear(<redacted>)"),
            Credential::Sealed(sealed) => match Keyring::key_id_of(sealed) {
                Some(id) => write!(f, "Sealed(key {id})"),
                None => f.write_str("Sealed(<unreadable>)"),
            },
        }
    }
}

impl Serialize for Credential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Credential::Clear(clear) => serializer.serialize_str(clear),
            Credential::Sealed(sealed) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("encrypted", sealed)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Credential {
    // By hand rather than `#[serde(untagged)]`, whose error ("did not match
    // any variant") would tell an admin who sent a number nothing.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CredentialVisitor;

        impl<'de> Visitor<'de> for CredentialVisitor {
            type Value = Credential;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Credential, E> {
                Ok(Credential::Clear(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Credential, E> {
                Ok(Credential::Clear(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Credential, A::Error> {
                let mut sealed = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "encrypted" if sealed.is_none() => sealed = Some(map.next_value::<String>()?),
                        _ => return Err(de::Error::custom("expected a string")),
                    }
                }
                sealed.map(Credential::Sealed).ok_or_else(|| de::Error::custom("expected a string"))
            }
        }

        deserializer.deserialize_any(CredentialVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretKey;
    use serde_json::json;

    const CONTEXT: SecretContext<'static> =
        SecretContext { tenant_id: 7, field: "connector.bearer_token", origin: "http://127.0.0.1:9" };

    #[test]
    fn a_string_is_clear_and_an_encrypted_object_is_sealed() {
        let clear: Credential = serde_json::from_value(json!("t")).unwrap();
        assert_eq!(clear, Credential::Clear("t".into()));
        let sealed: Credential = serde_json::from_value(json!({"encrypted": "v1.x.y"})).unwrap();
        assert_eq!(sealed, Credential::Sealed("v1.x.y".into()));
        assert_eq!(serde_json::to_value(&sealed).unwrap(), json!({"encrypted": "v1.x.y"}));
        assert_eq!(serde_json::to_value(&clear).unwrap(), json!("t"));
    }

    #[test]
    fn anything_else_is_refused_as_not_a_string() {
        for bad in [json!(5), json!(null), json!({"encrypted": "a", "more": 1}), json!({}), json!([])] {
            let err = serde_json::from_value::<Credential>(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("expected a string"), "{bad}: {err}");
        }
    }

    #[test]
    fn sealing_a_clear_token_stores_no_clear_text_and_reveals_it_again() {
        let keys = Keyring::new(vec![SecretKey::generate()]).unwrap();
        let sealed = Credential::Clear("token-abc".into()).sealed(&keys, &CONTEXT);
        assert!(!serde_json::to_string(&sealed).unwrap().contains("token-abc"));
        assert_eq!(sealed.reveal(&keys, &CONTEXT).unwrap().as_str(), "token-abc");
        assert_eq!(sealed.sealed(&keys, &CONTEXT), sealed, "already current: kept");
    }

    #[test]
    fn a_token_sealed_under_an_older_key_is_sealed_again_under_the_first() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let under_a = Credential::Clear("t".into()).sealed(&Keyring::new(vec![a.clone()]).unwrap(), &CONTEXT);
        let rotated = Keyring::new(vec![b.clone(), a]).unwrap();
        let under_b = under_a.sealed(&rotated, &CONTEXT);
        let Credential::Sealed(text) = &under_b else { panic!("sealed") };
        assert_eq!(Keyring::key_id_of(text), Some(b.id()));
        assert_eq!(under_b.reveal(&Keyring::new(vec![b]).unwrap(), &CONTEXT).unwrap().as_str(), "t");
    }

    #[test]
    fn a_token_no_key_opens_is_kept_as_it_is() {
        let under_a =
            Credential::Clear("t".into()).sealed(&Keyring::new(vec![SecretKey::generate()]).unwrap(), &CONTEXT);
        let other = Keyring::new(vec![SecretKey::generate()]).unwrap();
        assert_eq!(under_a.sealed(&other, &CONTEXT), under_a);
        assert!(matches!(under_a.reveal(&other, &CONTEXT), Err(OpenError::UnknownKey { .. })));
    }

    #[test]
    fn debug_never_shows_the_clear_text() {
        assert!(!format!("{:?}", Credential::Clear("hunter2".into())).contains("hunter2"));
    }
}
