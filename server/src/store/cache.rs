//! The session manager's view of a store's AuthSig table and mint lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{AuthSigId, SaveOutcome, ServiceStore, StoreError};
use crate::signing::{
    self, AsyncAuthSigStore, AsyncMintLock, AuthSig, AuthSigKey, AuthStoreError, EthAddress, MintLock, StoreFailure,
    VerifyingKey,
};

/// The session manager's view of a store's AuthSig table and mint lock, async: the manager
/// awaits the store's calls on the runtime.
///
/// Writes are versioned: a save replaces only the version this view last read for the key (the
/// manager reads again under the mint lock before it signs), so an AuthSig another replica
/// wrote in between is never overwritten; such a save fails instead.
pub fn auth_sig_store(store: Arc<dyn ServiceStore>) -> Arc<dyn AsyncAuthSigStore> {
    Arc::new(StoreAuthSigs { store, versions: Mutex::new(HashMap::new()) })
}

struct StoreAuthSigs {
    store: Arc<dyn ServiceStore>,
    // The version last read per row.
    versions: Mutex<HashMap<AuthSigId, Option<i64>>>,
}

impl StoreAuthSigs {
    fn failure(&self, e: StoreError) -> AuthStoreError {
        signing::store_failure(&self.store.location(), e.failure(), &e.to_string())
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<AuthSigId, Option<i64>>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl AsyncAuthSigStore for StoreAuthSigs {
    async fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        let id = AuthSigId::of(key);
        let row = self.store.load_auth_sig(&id).await.map_err(|e| self.failure(e))?;
        self.versions().insert(id, row.as_ref().map(|r| r.version));
        match row {
            None => Ok(None),
            Some(row) => signing::parse_auth_sig(&row.auth_sig)
                .map(Some)
                .map_err(|e| signing::corrupt_entry(&format!("auth_sigs/{}", key.name()), &e.to_string())),
        }
    }

    async fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(key);
        let text = serde_json::to_string(auth_sig)
            .map_err(|e| signing::store_failure(&self.store.location(), StoreFailure::Unavailable, &e.to_string()))?;
        let expires = signing::auth_sig_expiration(auth_sig).map(|t| (t.unix_millis() / 1000) as i64);
        let expected = self.versions().get(&id).copied().flatten();
        let outcome = self.store.save_auth_sig(&id, &text, expires, expected).await.map_err(|e| self.failure(e))?;
        match outcome {
            SaveOutcome::Saved(version) => {
                self.versions().insert(id, Some(version));
                Ok(())
            }
            SaveOutcome::Conflict(version) => {
                self.versions().remove(&id);
                Err(signing::store_failure(
                    &self.store.location(),
                    StoreFailure::Conflict,
                    &format!(
                        "another process saved AuthSig version {version} for this key meanwhile; it is kept and \
                         this one is not used"
                    ),
                ))
            }
        }
    }

    async fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(key);
        self.store.remove_auth_sig(&id).await.map_err(|e| self.failure(e))?;
        self.versions().remove(&id);
        Ok(())
    }

    async fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(&AuthSigKey { signer, session_key: *session_key, grants: None });
        self.store.remove_auth_sigs(&id.signer, &id.session_key).await.map_err(|e| self.failure(e))?;
        self.versions().retain(|k, _| (&k.signer, &k.session_key) != (&id.signer, &id.session_key));
        Ok(())
    }

    async fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<AsyncMintLock>, AuthStoreError> {
        let guard = self.store.lock_for_mint(&AuthSigId::of(key)).await.map_err(|e| self.failure(e))?;
        // The backends' guards give the lock back in their drop, which may block (SQLite deletes
        // its lease row), so that one step still runs on the blocking pool.
        Ok(Some(AsyncMintLock::blocking(MintLock::new(guard))))
    }
}
