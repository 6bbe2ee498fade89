//! In-process session keys for tests, development and services without an HSM.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::RwLock;

use ed25519_dalek::{Signer, SigningKey};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::{Detail, KeyId, KeyInfo, KeyStoreError, SessionKeyStore, Signature, VerifyingKey};

struct Entry {
    label: String,
    // ed25519-dalek zeroizes the secret when a SigningKey is dropped (feature `zeroize`). Boxed
    // because the map moves entries between and within its nodes with plain copies and never
    // wipes the slots they leave: held inline, copies of seeds outlived `delete` and the store
    // (caught by tests/secret_zeroize.rs). A box moves only its pointer.
    key: Box<SigningKey>,
}

/// Session keys held in process memory. Secrets are zeroized on drop and never printed.
///
/// A key's id is its 32-byte public key, so importing the same seed twice gives the same id.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use zeroize::Zeroizing;
///
/// let store = MemoryKeyStore::new();
/// let id = store.import_seed("fixed", Zeroizing::new([0x42; 32])).unwrap();
/// assert_eq!(
///     hex::encode(store.public_key(&id).unwrap().as_bytes()),
///     "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12"
/// );
/// ```
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: RwLock<BTreeMap<KeyId, Entry>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the key whose 32-byte ed25519 seed is `seed` (tweetnacl's `keyPair.fromSeed`).
    pub fn import_seed(&self, label: &str, seed: Zeroizing<[u8; 32]>) -> Result<KeyId, KeyStoreError> {
        Ok(self.insert(label, Box::new(SigningKey::from_bytes(&seed))))
    }

    fn insert(&self, label: &str, key: Box<SigningKey>) -> KeyId {
        let id = KeyId::from_bytes(key.verifying_key().to_bytes().to_vec());
        let entry = Entry { label: label.to_string(), key };
        self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(id.clone(), entry);
        id
    }

    fn with_key<T>(&self, id: &KeyId, f: impl FnOnce(&Entry) -> T) -> Result<T, KeyStoreError> {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(id).map(f).ok_or_else(|| KeyStoreError::KeyNotFound(id.clone(), Detail::none()))
    }
}

impl SessionKeyStore for MemoryKeyStore {
    fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, seed.as_mut())
            .map_err(|e| KeyStoreError::Rng(e.to_string()))?;
        self.import_seed(label, seed)
    }

    fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError> {
        self.with_key(id, |e| e.key.verifying_key())
    }

    fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
        self.with_key(id, |e| e.key.sign(message))
    }

    fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
        // One lock and one look-up for the whole batch.
        self.with_key(id, |e| messages.iter().map(|m| e.key.sign(m)).collect())
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        self.keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(id)
            .map(drop)
            .ok_or_else(|| KeyStoreError::KeyNotFound(id.clone(), Detail::none()))
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(keys
            .iter()
            .map(|(id, e)| KeyInfo { id: id.clone(), label: e.label.clone(), public_key: e.key.verifying_key() })
            .collect())
    }

    fn may_block(&self) -> bool {
        false
    }
}

// Every secret is an ed25519-dalek `SigningKey`, which wipes itself on drop.
impl ZeroizeOnDrop for MemoryKeyStore {}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.keys.read().map(|k| k.len()).unwrap_or(0);
        f.debug_struct("MemoryKeyStore").field("keys", &n).field("secrets", &"[redacted]").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[cfg(feature = "test-util")]
    #[test]
    fn passes_the_conformance_suite_directly_and_through_pointers() {
        use crate::keystore::testing::check_store;
        let store = MemoryKeyStore::new();
        check_store(&store);
        check_store(&&store);
        check_store(&std::sync::Arc::new(MemoryKeyStore::new()));
        let boxed: Box<dyn SessionKeyStore> = Box::new(MemoryKeyStore::new());
        check_store(&boxed);
        assert!(!boxed.may_block(), "may_block is forwarded through Box");
    }

    #[test]
    fn generate_sign_delete() {
        let store = MemoryKeyStore::new();
        let a = store.generate("a").unwrap();
        let b = store.generate("b").unwrap();
        assert_ne!(a, b);
        let sig = store.sign(&a, b"msg").unwrap();
        store.public_key(&a).unwrap().verify_strict(b"msg", &sig).unwrap();
        assert!(store.public_key(&b).unwrap().verify(b"msg", &sig).is_err());
        let many = store.sign_many(&b, &[b"x", b"y"]).unwrap();
        assert_eq!(many[1], store.sign(&b, b"y").unwrap());
        assert_eq!(store.list().unwrap().len(), 2);
        store.delete(&a).unwrap();
        assert!(matches!(store.sign(&a, b"msg"), Err(KeyStoreError::KeyNotFound(..))));
        assert!(matches!(store.delete(&a), Err(KeyStoreError::KeyNotFound(..))));
    }

    #[test]
    fn signing_key_drop_zeroizes_the_seed() {
        use std::mem::ManuallyDrop;
        fn zeroize_on_drop<T: ZeroizeOnDrop>(_: &T) {}
        let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0x6b);
        // The key in place, so its bytes can be read after the destructor ran.
        let mut key = ManuallyDrop::new(SigningKey::from_bytes(&seed));
        zeroize_on_drop(&*key);
        assert_eq!(key.to_bytes(), seed);
        // The map drops an entry with drop_in_place::<Entry>, which drops the box and so runs
        // exactly this destructor on the key.
        // SAFETY: dropped once; afterwards only the key's plain bytes are read (no validity
        // invariant can be broken by them).
        unsafe { ManuallyDrop::drop(&mut key) };
        assert_eq!(key.to_bytes(), [0u8; 32]);
    }

    #[test]
    fn debug_is_redacted() {
        let store = MemoryKeyStore::new();
        store.import_seed("s", Zeroizing::new([0x42; 32])).unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains("42424242"), "{shown}");
        assert!(!shown.to_lowercase().contains("signingkey"), "{shown}");
    }
}
