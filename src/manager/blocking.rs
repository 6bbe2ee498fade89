//! The manager's calls into the session key store, kept off the async runtime when the store
//! says they may block ([`SessionKeyStore::may_block`], e.g. PKCS#11). Synchronous AuthSig
//! stores are kept off it by their adapter ([`super::BlockingAuthSigStore`]).

use super::{ManagerError, SessionManager};
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
}
