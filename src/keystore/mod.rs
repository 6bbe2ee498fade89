//! Stores of ed25519 session keys.
//!
//! A [`SessionKeyStore`] generates keys, hands out their public keys and signs with them. It is
//! synchronous because HSM calls are blocking FFI; async callers move calls off their runtime.
//! Stores know nothing about Lit: they sign bytes.

mod memory;
#[cfg(feature = "pkcs11")]
mod pkcs11;
#[cfg(feature = "test-util")]
pub mod testing;

use std::fmt;

pub use ed25519_dalek::{Signature, VerifyingKey};
pub use memory::MemoryKeyStore;
#[cfg(feature = "pkcs11")]
pub use pkcs11::{KeyOptions, Pkcs11KeyStore};

/// Identifies a key inside one store (the `CKA_ID` on a PKCS#11 token).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Vec<u8>);

impl KeyId {
    /// Wraps raw id bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Parses lowercase or uppercase hex.
    pub fn from_hex(s: &str) -> Result<Self, KeyStoreError> {
        hex::decode(s.trim()).map(Self).map_err(|_| KeyStoreError::InvalidKeyId(s.to_string()))
    }

    /// The raw id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What a store knows about one key (never the private part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id in its store.
    pub id: KeyId,
    /// A human label.
    pub label: String,
    /// The ed25519 public key.
    pub public_key: VerifyingKey,
}

/// The backend's own account of a key error (token, slot, call, code), shown after the
/// generic message and reachable as the error's `source()`; empty for stores with nothing to
/// add.
#[derive(Debug, Default)]
pub struct Detail(Option<Box<dyn std::error::Error + Send + Sync>>);

impl Detail {
    /// No detail.
    pub fn none() -> Self {
        Self(None)
    }

    /// The backend error `e`.
    pub fn from_error(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(e)))
    }

    /// The backend error, if any.
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.as_deref()
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(e) => write!(f, " ({e})"),
            None => Ok(()),
        }
    }
}

/// Errors from a key store.
///
/// The backend's own error is the `source()` of `KeyNotFound`, `AmbiguousKey`, `BadSignature`
/// (when their [`Detail`] has one) and `Backend`.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// No key has this id. The detail says where the backend looked (token, slot, call).
    KeyNotFound(KeyId, Detail),
    /// More than one key has this id; look-ups require exactly one.
    AmbiguousKey {
        /// The id looked up.
        id: KeyId,
        /// How many matched.
        count: usize,
        /// Where the backend looked.
        detail: Detail,
    },
    /// A key id that is not hex.
    InvalidKeyId(String),
    /// Key material that is not a valid ed25519 key.
    InvalidKey(String),
    /// The operating system's random number generator failed.
    Rng(String),
    /// The backend returned a signature that does not verify under the key's public key.
    BadSignature(KeyId, Detail),
    /// A failure inside the backend (e.g. a PKCS#11 call).
    Backend {
        /// The backend's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Whether retrying the same call later can succeed.
        transient: bool,
    },
}

impl fmt::Display for KeyStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyNotFound(id, detail) => write!(f, "no session key with id {id}{detail}"),
            Self::AmbiguousKey { id, count, detail } => {
                write!(f, "{count} keys have id {id}; exactly one is required{detail}")
            }
            Self::InvalidKeyId(s) => write!(f, "key id is not hex: {s:?}"),
            Self::InvalidKey(e) => write!(f, "invalid key material: {e}"),
            Self::Rng(e) => write!(f, "random number generator failed: {e}"),
            Self::BadSignature(id, detail) => {
                write!(f, "the key store returned a signature that does not verify for key {id}{detail}")
            }
            Self::Backend { source, .. } => write!(f, "{source}"),
        }
    }
}

impl std::error::Error for KeyStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::KeyNotFound(_, detail) | Self::AmbiguousKey { detail, .. } | Self::BadSignature(_, detail) => {
                detail.error().map(|e| e as _)
            }
            Self::Backend { source, .. } => Some(source.as_ref()),
            Self::InvalidKeyId(_) | Self::InvalidKey(_) | Self::Rng(_) => None,
        }
    }
}

impl KeyStoreError {
    /// Whether retrying later may help (a token that went away, a lost session). Key and
    /// argument errors are permanent.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Backend { transient: true, .. } | Self::Rng(_))
    }
}

/// A store of ed25519 session keys.
///
/// Object-safe, so services can hold a `Box<dyn SessionKeyStore>` chosen at run time.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use ed25519_dalek::Verifier;
///
/// let store: Box<dyn SessionKeyStore> = Box::new(MemoryKeyStore::new());
/// let id = store.generate("session-1").unwrap();
/// let sig = store.sign(&id, b"hello").unwrap();
/// store.public_key(&id).unwrap().verify(b"hello", &sig).unwrap();
/// ```
pub trait SessionKeyStore: Send + Sync {
    /// Generates a new key inside the store and returns its id.
    fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError>;

    /// The public key of `id`.
    fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError>;

    /// Signs `message` (pure ed25519, no pre-hash) with key `id`.
    fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError>;

    /// Signs several messages with key `id`, in order. Stores with several sessions or devices
    /// override this to sign concurrently; the default signs one after another.
    fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
        messages.iter().map(|m| self.sign(id, m)).collect()
    }

    /// Deletes key `id`.
    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError>;

    /// Every session key in the store.
    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError>;

    /// Whether calls may block the thread on I/O (a device, a daemon). Async callers move such
    /// calls off their runtime and sign inline otherwise. The default is the safe answer.
    fn may_block(&self) -> bool {
        true
    }
}

// Smart pointers and references to a store are stores (as alloy's `auto_impl` gives its
// signers), so callers can pass `&store`, `Box<dyn SessionKeyStore>` or `Arc<S>` alike.
macro_rules! forward_session_key_store {
    ($($ptr:ty),*) => {$(
        impl<T: SessionKeyStore + ?Sized> SessionKeyStore for $ptr {
            fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError> {
                (**self).generate(label)
            }
            fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError> {
                (**self).public_key(id)
            }
            fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
                (**self).sign(id, message)
            }
            fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
                (**self).sign_many(id, messages)
            }
            fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
                (**self).delete(id)
            }
            fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
                (**self).list()
            }
            fn may_block(&self) -> bool {
                (**self).may_block()
            }
        }
    )*};
}
forward_session_key_store!(&T, Box<T>, std::sync::Arc<T>);

/// One key of a store, usable wherever RustCrypto's [`signature::Signer`] is expected.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKey, SessionKeyStore};
/// use signature::Signer;
///
/// fn sign_with<S: Signer<ed25519_dalek::Signature>>(s: &S) -> ed25519_dalek::Signature {
///     s.sign(b"hello")
/// }
/// let store = MemoryKeyStore::new();
/// let key = SessionKey::new(&store, store.generate("k").unwrap());
/// let sig = sign_with(&key);
/// key.verifying_key().unwrap().verify_strict(b"hello", &sig).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SessionKey<'a, S: SessionKeyStore + ?Sized> {
    store: &'a S,
    id: KeyId,
}

impl<'a, S: SessionKeyStore + ?Sized> SessionKey<'a, S> {
    /// The key `id` of `store`.
    pub fn new(store: &'a S, id: KeyId) -> Self {
        Self { store, id }
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key's public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyStoreError> {
        self.store.public_key(&self.id)
    }
}

impl<S: SessionKeyStore + ?Sized> signature::Signer<Signature> for SessionKey<'_, S> {
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        self.store.sign(&self.id, msg).map_err(signature::Error::from_source)
    }
}
