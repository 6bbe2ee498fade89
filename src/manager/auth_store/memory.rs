//! AuthSigs kept for the life of the process.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{AuthSigKey, AuthSigStore, AuthStoreError};
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;

/// An in-process [`AuthSigStore`]. AuthSigs are public (the nodes see them), so nothing here
/// needs zeroizing.
///
/// ```
/// use lit_session_signer::manager::{AuthSigKey, AuthSigStore, MemoryAuthSigStore};
/// # use lit_session_signer::{auth_sig::AuthSig, eth::EthAddress, keystore::{MemoryKeyStore, SessionKeyStore}};
/// # let keys = MemoryKeyStore::new();
/// # let id = keys.generate("s").unwrap();
/// let key = AuthSigKey { signer: EthAddress::from_bytes([7; 20]), session_key: keys.public_key(&id).unwrap(), grants: None };
/// let store = MemoryAuthSigStore::new();
/// assert!(store.load(&key).unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct MemoryAuthSigStore {
    entries: Mutex<HashMap<AuthSigKey, AuthSig>>,
}

impl MemoryAuthSigStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<AuthSigKey, AuthSig>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl AuthSigStore for MemoryAuthSigStore {
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        Ok(self.entries().get(key).cloned())
    }

    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        self.entries().insert(*key, auth_sig.clone());
        Ok(())
    }

    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        self.entries().remove(key);
        Ok(())
    }

    fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        self.entries().retain(|k, _| k.signer != signer || k.session_key != *session_key);
        Ok(())
    }
}
