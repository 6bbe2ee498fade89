//! The session manager's synchronous view of a store's AuthSig table and mint lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{AuthSigId, SaveOutcome, ServiceStore, StoreError};
use crate::signing::{
    self, AuthSig, AuthSigKey, AuthSigStore, AuthStoreError, EthAddress, MintLock, StoreFailure, VerifyingKey,
};

/// The session manager's synchronous view of a store's AuthSig table and mint lock. The
/// manager calls it off the runtime (on the blocking pool), where it waits for the async store.
///
/// Writes are versioned: a save replaces only the version this view last read for the key (the
/// manager reads again under the mint lock before it signs), so an AuthSig another replica
/// wrote in between is never overwritten; such a save fails instead.
pub fn auth_sig_cache(store: Arc<dyn ServiceStore>, runtime: tokio::runtime::Handle) -> Arc<dyn AuthSigStore> {
    Arc::new(StoreAuthSigs { store, runtime, versions: Mutex::new(HashMap::new()) })
}

struct StoreAuthSigs {
    store: Arc<dyn ServiceStore>,
    runtime: tokio::runtime::Handle,
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

impl AuthSigStore for StoreAuthSigs {
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        let id = AuthSigId::of(key);
        let row = self.runtime.block_on(self.store.load_auth_sig(&id)).map_err(|e| self.failure(e))?;
        self.versions().insert(id, row.as_ref().map(|r| r.version));
        match row {
            None => Ok(None),
            Some(row) => signing::parse_auth_sig(&row.auth_sig)
                .map(Some)
                .map_err(|e| signing::corrupt_entry(&format!("auth_sigs/{}", key.name()), &e.to_string())),
        }
    }

    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(key);
        let text = serde_json::to_string(auth_sig)
            .map_err(|e| signing::store_failure(&self.store.location(), StoreFailure::Unavailable, &e.to_string()))?;
        let expires = signing::auth_sig_expiration(auth_sig).map(|t| (t.unix_millis() / 1000) as i64);
        let expected = self.versions().get(&id).copied().flatten();
        let outcome = self
            .runtime
            .block_on(self.store.save_auth_sig(&id, &text, expires, expected))
            .map_err(|e| self.failure(e))?;
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

    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(key);
        self.runtime.block_on(self.store.remove_auth_sig(&id)).map_err(|e| self.failure(e))?;
        self.versions().remove(&id);
        Ok(())
    }

    fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        let id = AuthSigId::of(&AuthSigKey { signer, session_key: *session_key, grants: None });
        self.runtime.block_on(self.store.remove_auth_sigs(&id.signer, &id.session_key)).map_err(|e| self.failure(e))?;
        self.versions().retain(|k, _| (&k.signer, &k.session_key) != (&id.signer, &id.session_key));
        Ok(())
    }

    fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<MintLock>, AuthStoreError> {
        let guard =
            self.runtime.block_on(self.store.lock_for_mint(&AuthSigId::of(key))).map_err(|e| self.failure(e))?;
        Ok(Some(MintLock::new(guard)))
    }
}
