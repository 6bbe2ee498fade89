//! The manager's own store interface, async: stores whose I/O runs on the runtime (a database
//! client) implement it directly, and synchronous [`AuthSigStore`]s reach it through
//! [`BlockingAuthSigStore`], which runs their calls on Tokio's blocking pool.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{AuthSigKey, AuthSigStore, AuthStoreError, MintLock, StoreFailure};
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;

/// Storage for cached AuthSigs whose calls are async: the manager awaits them on the runtime,
/// so they must not block a worker thread (use [`AuthSigStore`] and
/// [`SessionManager::new`](super::super::SessionManager::new) for a store that does). The
/// contract is [`AuthSigStore`]'s, method by method; errors are the same typed
/// [`AuthStoreError`], and [`ManagerConfig::store_failures`](super::super::ManagerConfig::store_failures)
/// treats them alike.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use lit_session_signer::auth_sig::AuthSig;
/// use lit_session_signer::keystore::MemoryKeyStore;
/// use lit_session_signer::manager::{
///     AsyncAuthSigStore, AsyncMintLock, AuthSigKey, AuthSigUse, AuthSource, AuthStoreError, SessionKeyPolicy,
///     SessionManager, SessionSigsOptions,
/// };
/// use lit_session_signer::wallet::MemoryWallet;
///
/// /// Stands in for a database reached with an async client; one mint lock for every key.
/// #[derive(Default)]
/// struct Rows {
///     rows: tokio::sync::Mutex<HashMap<AuthSigKey, AuthSig>>,
///     mint: Arc<tokio::sync::Mutex<()>>,
/// }
///
/// #[async_trait::async_trait]
/// impl AsyncAuthSigStore for Rows {
///     async fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
///         Ok(self.rows.lock().await.get(key).cloned())
///     }
///     async fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
///         self.rows.lock().await.insert(*key, auth_sig.clone());
///         Ok(())
///     }
///     async fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
///         self.rows.lock().await.remove(key);
///         Ok(())
///     }
///     async fn lock_for_mint(&self, _key: &AuthSigKey) -> Result<Option<AsyncMintLock>, AuthStoreError> {
///         // Dropping the guard gives the lock back without I/O.
///         Ok(Some(AsyncMintLock::on_drop(self.mint.clone().lock_owned().await)))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(Rows::default());
/// let manager = SessionManager::new_async(
///     Arc::new(MemoryKeyStore::new()),
///     SessionKeyPolicy::Labelled { prefix: "lit-session".into(), rotate_after: None },
///     AuthSource::wallet(MemoryWallet::random().unwrap()),
///     store.clone(),
/// );
/// let nodes = vec!["https://127.0.0.1:7470".parse().unwrap()];
/// let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
/// let options = SessionSigsOptions::new("0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
/// let report = manager.session_sigs_report(&nodes, &requests, &options).await.unwrap();
/// assert!(matches!(report.auth_sig, AuthSigUse::Signed { .. }));
/// assert_eq!(store.rows.lock().await.len(), 1, "saved under the mint lock");
/// # });
/// ```
#[async_trait::async_trait]
pub trait AsyncAuthSigStore: Send + Sync {
    /// The AuthSig stored under `key`, `Ok(None)` if there is none, or
    /// [`AuthStoreError::Corrupt`] for an entry that is not a well-formed AuthSig.
    async fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError>;

    /// Stores `auth_sig` under `key`, replacing any previous entry.
    async fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError>;

    /// Removes the entry under `key`; removing a missing entry is not an error.
    async fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError>;

    /// Removes every entry of `signer` and `session_key`, whatever grants it is for. The default
    /// removes the entry without a grant set only, as [`AuthSigStore::remove_all`]'s does.
    async fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        self.remove(&AuthSigKey { signer, session_key: *session_key, grants: None }).await
    }

    /// Takes the store's lock for minting a new AuthSig under `key`, as
    /// [`AuthSigStore::lock_for_mint`] (one wallet signature across processes sharing the
    /// store). The manager gives the lock back with [`AsyncMintLock::release`] once the new
    /// AuthSig is saved. `Ok(None)` (the default): the store has no such lock.
    async fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<AsyncMintLock>, AuthStoreError> {
        let _ = key;
        Ok(None)
    }
}

/// A held mint lock of an [`AsyncAuthSigStore`]: [`release`](Self::release) gives it back and
/// the manager awaits that. The release is a future the store supplies, so giving the lock back
/// may do async I/O (an `UNLOCK` on the same connection) without blocking the runtime. A lock
/// dropped without `release` (the call was cancelled) drops that future unpolled: whatever it
/// owns must release the lock when dropped too (a guard, a connection), or expire.
///
/// ```
/// use lit_session_signer::manager::AsyncMintLock;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mutex = std::sync::Arc::new(tokio::sync::Mutex::new(()));
/// let lock = AsyncMintLock::on_drop(mutex.clone().lock_owned().await);
/// assert!(mutex.try_lock().is_err(), "held");
/// lock.release().await;
/// assert!(mutex.try_lock().is_ok(), "given back");
/// # });
/// ```
pub struct AsyncMintLock {
    release: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl AsyncMintLock {
    /// A lock that `release` gives back when awaited.
    pub fn new(release: impl Future<Output = ()> + Send + 'static) -> Self {
        Self { release: Box::pin(release) }
    }

    /// A lock given back by dropping `guard`, inline on the runtime: for guards whose drop does
    /// not block (an async mutex's guard, a connection handed back to its pool).
    pub fn on_drop(guard: impl Send + 'static) -> Self {
        Self::new(async move { drop(guard) })
    }

    /// A synchronous store's [`MintLock`], whose drop may block: released on the blocking pool.
    pub fn blocking(lock: MintLock) -> Self {
        // A failed task (the runtime shutting down) has dropped the closure, and the lock with it.
        Self::new(async move {
            let _ = tokio::task::spawn_blocking(move || drop(lock)).await;
        })
    }

    /// Gives the lock back.
    pub async fn release(self) {
        self.release.await
    }
}

impl fmt::Debug for AsyncMintLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncMintLock")
    }
}

/// A synchronous [`AuthSigStore`] as an [`AsyncAuthSigStore`]: every call runs on Tokio's
/// blocking pool, and the mint lock is released there ([`AsyncMintLock::blocking`]).
/// [`SessionManager::new`](super::super::SessionManager::new) wraps its store in one; errors
/// pass through unchanged, and a call that dies on the pool (a panic) is a store failure
/// ([`StoreFailure::Unavailable`]).
///
/// ```
/// use std::sync::Arc;
/// use lit_session_signer::manager::{AsyncAuthSigStore, AuthSigKey, BlockingAuthSigStore, FileAuthSigStore};
/// # use lit_session_signer::{eth::EthAddress, keystore::{MemoryKeyStore, SessionKeyStore}};
/// # let keys = MemoryKeyStore::new();
/// # let session_key = keys.public_key(&keys.generate("s").unwrap()).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let store = BlockingAuthSigStore::new(Arc::new(FileAuthSigStore::open(dir.path()).unwrap()));
/// let key = AuthSigKey { signer: EthAddress::from_bytes([7; 20]), session_key, grants: None };
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(store.load(&key).await.unwrap().is_none());
/// assert!(store.lock_for_mint(&key).await.unwrap().is_none(), "one process: no lock");
/// # });
/// ```
#[derive(Clone)]
pub struct BlockingAuthSigStore {
    store: Arc<dyn AuthSigStore>,
}

impl BlockingAuthSigStore {
    /// Runs `store`'s calls on the blocking pool.
    pub fn new(store: Arc<dyn AuthSigStore>) -> Self {
        Self { store }
    }

    /// The synchronous store.
    pub fn get_ref(&self) -> &Arc<dyn AuthSigStore> {
        &self.store
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AuthSigStore) -> Result<T, AuthStoreError> + Send + 'static,
    ) -> Result<T, AuthStoreError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*store)).await {
            Ok(result) => result,
            Err(e) => Err(AuthStoreError::Store {
                store: "blocking pool".to_string(),
                failure: StoreFailure::Unavailable,
                message: format!("the AuthSig store's call did not complete: {e}"),
            }),
        }
    }
}

impl fmt::Debug for BlockingAuthSigStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockingAuthSigStore")
    }
}

#[async_trait::async_trait]
impl AsyncAuthSigStore for BlockingAuthSigStore {
    async fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        let key = *key;
        self.run(move |store| store.load(&key)).await
    }

    async fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        let (key, auth_sig) = (*key, auth_sig.clone());
        self.run(move |store| store.save(&key, &auth_sig)).await
    }

    async fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        let key = *key;
        self.run(move |store| store.remove(&key)).await
    }

    async fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        let session_key = *session_key;
        self.run(move |store| store.remove_all(signer, &session_key)).await
    }

    async fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<AsyncMintLock>, AuthStoreError> {
        let key = *key;
        Ok(self.run(move |store| store.lock_for_mint(&key)).await?.map(AsyncMintLock::blocking))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::super::MemoryAuthSigStore;
    use super::*;
    use crate::keystore::{MemoryKeyStore, SessionKeyStore};
    use crate::wallet::{MemoryWallet, WalletSigner};

    /// A synchronous store that can be made to fail, whose mint lock is a flag released on drop
    /// from whichever thread drops it.
    #[derive(Default)]
    struct Flaky {
        inner: MemoryAuthSigStore,
        down: AtomicBool,
        held: Arc<AtomicBool>,
        release_thread: Arc<Mutex<Option<std::thread::ThreadId>>>,
        calls: AtomicUsize,
    }

    struct Flag(Arc<AtomicBool>, Arc<Mutex<Option<std::thread::ThreadId>>>);

    impl Drop for Flag {
        fn drop(&mut self) {
            *self.1.lock().unwrap() = Some(std::thread::current().id());
            self.0.store(false, Ordering::SeqCst);
        }
    }

    impl Flaky {
        fn check(&self) -> Result<(), AuthStoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(AuthStoreError::Store {
                    store: "flaky".into(),
                    failure: StoreFailure::Busy,
                    message: "waited too long".into(),
                });
            }
            Ok(())
        }
    }

    impl AuthSigStore for Flaky {
        fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
            self.check()?;
            self.inner.load(key)
        }
        fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
            self.check()?;
            self.inner.save(key, auth_sig)
        }
        fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
            self.check()?;
            self.inner.remove(key)
        }
        fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
            self.check()?;
            self.inner.remove_all(signer, session_key)
        }
        fn lock_for_mint(&self, _key: &AuthSigKey) -> Result<Option<MintLock>, AuthStoreError> {
            self.check()?;
            if self.held.swap(true, Ordering::SeqCst) {
                panic!("the lock is held");
            }
            Ok(Some(MintLock::new(Flag(self.held.clone(), self.release_thread.clone()))))
        }
    }

    fn auth_sig(key: &AuthSigKey, wallet: &MemoryWallet) -> AuthSig {
        AuthSig::from_signature(format!("entry {}", key.name()), &wallet.personal_sign(b"x").unwrap(), wallet.address())
    }

    #[test]
    fn the_adapter_passes_calls_and_typed_errors_through_and_releases_locks_off_the_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let keys = MemoryKeyStore::new();
        let session_key = keys.public_key(&keys.generate("s").unwrap()).unwrap();
        let wallet = MemoryWallet::from_bytes(&[0x42; 32]).unwrap();
        let key = AuthSigKey { signer: wallet.address(), session_key, grants: None };
        let flaky = Arc::new(Flaky::default());
        let store = BlockingAuthSigStore::new(flaky.clone());
        rt.block_on(async {
            assert!(store.load(&key).await.unwrap().is_none());
            let saved = auth_sig(&key, &wallet);
            store.save(&key, &saved).await.unwrap();
            assert_eq!(store.load(&key).await.unwrap().map(|a| a.sig), Some(saved.sig.clone()));
            assert!(flaky.inner.load(&key).unwrap().is_some(), "written to the synchronous store");

            flaky.down.store(true, Ordering::SeqCst);
            for e in [
                store.load(&key).await.map(drop).unwrap_err(),
                store.save(&key, &saved).await.unwrap_err(),
                store.remove_all(key.signer, &key.session_key).await.unwrap_err(),
                store.lock_for_mint(&key).await.map(drop).unwrap_err(),
            ] {
                assert!(
                    matches!(e, AuthStoreError::Store { failure: StoreFailure::Busy, ref store, .. } if store == "flaky"),
                    "{e:?}"
                );
            }
            flaky.down.store(false, Ordering::SeqCst);

            let lock = store.lock_for_mint(&key).await.unwrap().expect("the store has a lock");
            assert!(flaky.held.load(Ordering::SeqCst));
            lock.release().await;
            assert!(!flaky.held.load(Ordering::SeqCst), "released");
            let released_on = flaky.release_thread.lock().unwrap().take();
            assert_ne!(released_on, Some(std::thread::current().id()), "not on the runtime's thread");

            // A lock dropped without release (a cancelled call) is given back all the same.
            drop(store.lock_for_mint(&key).await.unwrap());
            assert!(!flaky.held.load(Ordering::SeqCst));

            // A call that panics on the pool is a store failure, not a panic of the caller.
            std::mem::forget(store.lock_for_mint(&key).await.unwrap());
            let e = store.lock_for_mint(&key).await.map(drop).unwrap_err();
            assert!(matches!(e, AuthStoreError::Store { failure: StoreFailure::Unavailable, .. }), "{e:?}");

            store.remove_all(key.signer, &key.session_key).await.unwrap();
            assert!(store.load(&key).await.unwrap().is_none());
        });
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 13);
    }
}
