//! A conformance suite for [`SessionKeyStore`] backends (feature `test-util`).
//!
//! Every store the session code may be handed must behave the same way: keys it generates
//! sign pure Ed25519 that verifies strictly, `sign_many` returns the signatures of `sign` in
//! order, listing shows labels and public keys, and a deleted or unknown key is
//! [`KeyStoreError::KeyNotFound`]. A new backend calls [`check_store`] from one test; this crate
//! runs it on [`MemoryKeyStore`](super::MemoryKeyStore) and on PKCS#11 tokens.
//!
//! ```
//! use lit_session_signer::keystore::{testing::check_store, MemoryKeyStore};
//! check_store(&MemoryKeyStore::new());
//! ```

use ed25519_dalek::Verifier;

use super::{KeyId, KeyStoreError, SessionKeyStore, Signature};

/// Messages of the lengths a session signs: empty, one byte, a typical per-node message, and a
/// long one (many resources and capabilities).
fn messages() -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(), vec![0x7b]];
    for len in [700, 2048] {
        out.push((0..len).map(|i| b"{\"sessionKey\":\"0123456789abcdef\"}"[i % 33]).collect());
    }
    out.extend((0..30).map(|node| format!("{{\"nodeAddress\":\"https://10.0.0.{node}:443\"}}").into_bytes()));
    out
}

fn must<T>(what: &str, r: Result<T, KeyStoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("conformance: {what} failed: {e}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(what: &str, r: Result<T, KeyStoreError>) {
    match r {
        Err(KeyStoreError::KeyNotFound(..)) => {}
        other => panic!("conformance: {what} must be KeyNotFound, got {other:?}"),
    }
}

/// Runs the conformance checks on `store`, panicking with a message that names the broken
/// rule. It generates two keys (labels `conformance-<random>-a` / `-b`), signs from several
/// threads, and deletes both keys before returning; other keys in the store are left alone.
pub fn check_store<S: SessionKeyStore + ?Sized>(store: &S) {
    let tag = hex::encode(rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_be_bytes());
    let (label_a, label_b) = (format!("conformance-{tag}-a"), format!("conformance-{tag}-b"));
    let a = must("generate", store.generate(&label_a));
    let b = must("generate", store.generate(&label_b));
    assert_ne!(a, b, "conformance: two generated keys share an id");
    let pub_a = must("public_key", store.public_key(&a));
    let pub_b = must("public_key", store.public_key(&b));
    assert_ne!(pub_a, pub_b, "conformance: two generated keys share a public key");
    assert_eq!(must("public_key again", store.public_key(&a)), pub_a, "conformance: public key changed");

    let messages = messages();
    let mut singles: Vec<Signature> = Vec::new();
    for m in &messages {
        let sig = must("sign", store.sign(&a, m));
        if let Err(e) = pub_a.verify_strict(m, &sig) {
            panic!("conformance: a {}-byte message's signature fails verify_strict: {e}", m.len());
        }
        assert!(pub_a.verify(m, &sig).is_ok(), "conformance: signature fails verify");
        assert!(pub_b.verify(m, &sig).is_err(), "conformance: key a's signature verifies under key b");
        // Pure Ed25519 is deterministic (RFC 8032): the same key and message give the same bytes.
        assert_eq!(must("sign again", store.sign(&a, m)), sig, "conformance: Ed25519 signature not deterministic");
        singles.push(sig);
    }

    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    assert!(must("sign_many of none", store.sign_many(&a, &[])).is_empty(), "conformance: sign_many(&[]) not empty");
    assert_eq!(must("sign_many", store.sign_many(&a, &refs)), singles, "conformance: sign_many differs from sign");

    // Shared between threads as services share it.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (refs, singles, a) = (&refs, &singles, &a);
                scope.spawn(move || {
                    for (i, m) in refs.iter().enumerate().filter(|(i, _)| i % 4 == t) {
                        assert_eq!(must("concurrent sign", store.sign(a, m)), singles[i]);
                    }
                })
            })
            .collect();
        for h in handles {
            if h.join().is_err() {
                panic!("conformance: a concurrent signer panicked");
            }
        }
    });

    let listed = must("list", store.list());
    for (id, label, public) in [(&a, &label_a, pub_a), (&b, &label_b, pub_b)] {
        let info = listed
            .iter()
            .find(|k| &k.id == id)
            .unwrap_or_else(|| panic!("conformance: generated key {id} is not listed"));
        assert_eq!(&info.label, label, "conformance: listed label differs");
        assert_eq!(info.public_key, public, "conformance: listed public key differs");
    }

    let unknown = KeyId::from_bytes(tag.clone().into_bytes());
    assert_not_found("public_key of an unknown id", store.public_key(&unknown));
    assert_not_found("sign with an unknown id", store.sign(&unknown, b"x"));

    must("delete", store.delete(&a));
    assert_not_found("public_key after delete", store.public_key(&a));
    assert_not_found("sign after delete", store.sign(&a, b"x"));
    assert_not_found("sign_many after delete", store.sign_many(&a, &[b"x"]));
    assert_not_found("delete twice", store.delete(&a));
    assert!(!must("list", store.list()).iter().any(|k| k.id == a), "conformance: a deleted key is still listed");
    // The other key is untouched by the first one's deletion.
    let sig = must("sign with the remaining key", store.sign(&b, b"still here"));
    assert!(pub_b.verify_strict(b"still here", &sig).is_ok(), "conformance: remaining key broken by delete");
    must("delete", store.delete(&b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{KeyInfo, MemoryKeyStore, VerifyingKey};

    /// A memory store with one rule broken.
    struct Broken {
        inner: MemoryKeyStore,
        fault: Fault,
    }

    #[derive(Clone, Copy)]
    enum Fault {
        SignManyReversed,
        DeleteKeepsKey,
        UnknownIdIsAnotherError,
        ListHidesKeys,
    }

    impl SessionKeyStore for Broken {
        fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError> {
            self.inner.generate(label)
        }
        fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError> {
            match (self.fault, self.inner.public_key(id)) {
                (Fault::UnknownIdIsAnotherError, Err(_)) => Err(KeyStoreError::InvalidKeyId(id.to_string())),
                (_, r) => r,
            }
        }
        fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
            self.inner.sign(id, message)
        }
        fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
            let mut sigs = self.inner.sign_many(id, messages)?;
            if let Fault::SignManyReversed = self.fault {
                sigs.reverse();
            }
            Ok(sigs)
        }
        fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
            match self.fault {
                Fault::DeleteKeepsKey => self.inner.public_key(id).map(|_| ()),
                _ => self.inner.delete(id),
            }
        }
        fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
            match self.fault {
                Fault::ListHidesKeys => Ok(Vec::new()),
                _ => self.inner.list(),
            }
        }
    }

    #[test]
    fn every_broken_rule_is_caught() {
        for (fault, rule) in [
            (Fault::SignManyReversed, "sign_many differs from sign"),
            (Fault::DeleteKeepsKey, "after delete must be KeyNotFound"),
            (Fault::UnknownIdIsAnotherError, "unknown id must be KeyNotFound"),
            (Fault::ListHidesKeys, "is not listed"),
        ] {
            let store = Broken { inner: MemoryKeyStore::new(), fault };
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_store(&store)));
            let message = match caught {
                Ok(()) => panic!("the suite passed a store whose rule '{rule}' is broken"),
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            };
            assert!(message.contains(rule), "expected '{rule}', got '{message}'");
        }
    }
}
