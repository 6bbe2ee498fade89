//! The manager's calls into synchronous stores, kept off the async runtime where they may
//! block: the AuthSig store always (file I/O), the session key store when it says so
//! ([`SessionKeyStore::may_block`], e.g. PKCS#11).

use super::auth_store::{AuthSigKey, AuthStoreError, MintLock};
use super::{ManagerError, SessionManager};
use crate::auth_sig::AuthSig;
use crate::keystore::{KeyId, SessionKeyStore, VerifyingKey};
use crate::session_sigs::{SessionSigs, UnsignedSessionSigs};

/// Runs `f` on Tokio's blocking pool.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ManagerError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ManagerError::Task(e.to_string()))
}

impl SessionManager {
    /// Runs `f` with the session key store: inline when the store does not block, on the
    /// blocking pool when it may.
    pub(super) async fn with_keys<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn SessionKeyStore) -> T + Send + 'static,
    ) -> Result<T, ManagerError> {
        if !self.keys.may_block() {
            return Ok(f(&*self.keys));
        }
        let keys = self.keys.clone();
        blocking(move || f(&*keys)).await
    }

    pub(super) async fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, ManagerError> {
        let id = id.clone();
        Ok(self.with_keys(move |keys| keys.public_key(&id)).await??)
    }

    /// Signs every node's message with session key `id`.
    pub(super) async fn sign_nodes(
        &self,
        unsigned: UnsignedSessionSigs,
        id: &KeyId,
    ) -> Result<SessionSigs, ManagerError> {
        let id = id.clone();
        Ok(self.with_keys(move |keys| unsigned.sign(keys, &id)).await??)
    }

    /// The stored AuthSig for `key`; the outer error is a failed task, the inner the store's.
    pub(super) async fn load(&self, key: AuthSigKey) -> Result<Result<Option<AuthSig>, AuthStoreError>, ManagerError> {
        let store = self.store.clone();
        blocking(move || store.load(&key)).await
    }

    /// Stores `auth_sig` under `key`; the outer error is a failed task, the inner the store's.
    pub(super) async fn save(
        &self,
        key: AuthSigKey,
        auth_sig: AuthSig,
    ) -> Result<Result<(), AuthStoreError>, ManagerError> {
        let store = self.store.clone();
        blocking(move || store.save(&key, &auth_sig)).await
    }

    /// Takes the store's mint lock for `key` (see [`super::AuthSigStore::lock_for_mint`]); the
    /// outer error is a failed task, the inner the store's.
    pub(super) async fn lock_for_mint(
        &self,
        key: AuthSigKey,
    ) -> Result<Result<Option<MintLock>, AuthStoreError>, ManagerError> {
        let store = self.store.clone();
        blocking(move || store.lock_for_mint(&key)).await
    }
}
