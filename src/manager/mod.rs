//! The async session manager: one session key (memory or HSM), one signer, and a cache of the
//! signer's AuthSig, so a service asks its wallet (or custody API) to sign once per session
//! rather than once per request.
//!
//! The reuse rule is [`ResignReason`]'s list: the cached AuthSig is reused only while its
//! signature holds, it is not expired and does not expire within [`ManagerConfig::expiry_margin`],
//! its URI names the current session key, its ReCap grants every request, and it was signed by
//! the signer configured now. A fresh AuthSig passes the same check before it is stored.
//!
//! ```
//! use std::sync::Arc;
//! use lit_session_signer::keystore::MemoryKeyStore;
//! use lit_session_signer::manager::{AuthSigUse, AuthSource, MemoryAuthSigStore, SessionKeyPolicy, SessionManager, SessionSigsOptions};
//! use lit_session_signer::wallet::MemoryWallet;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let manager = SessionManager::new(
//!     Arc::new(MemoryKeyStore::new()),
//!     SessionKeyPolicy::Labelled { prefix: "lit-session".into(), rotate_after: None },
//!     AuthSource::wallet(MemoryWallet::random().unwrap()),
//!     Arc::new(MemoryAuthSigStore::new()),
//! );
//! let nodes = vec!["https://127.0.0.1:7470".parse().unwrap(), "https://127.0.0.1:7471".parse().unwrap()];
//! let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
//! let options = SessionSigsOptions::new("0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
//! let first = manager.session_sigs_report(&nodes, &requests, &options).await.unwrap();
//! assert!(matches!(first.auth_sig, AuthSigUse::Signed { .. }));
//! let second = manager.session_sigs_report(&nodes, &requests, &options).await.unwrap();
//! assert!(matches!(second.auth_sig, AuthSigUse::Reused { .. }));
//! assert_eq!(second.sigs.len(), 2);
//! # });
//! ```

mod auth_source;
mod auth_store;
mod blocking;
mod delegation;
mod error;
mod key_lifecycle;
mod reuse;

pub use auth_source::{AuthCallback, AuthNeeded, AuthSource};
pub use auth_store::{
    AsyncAuthSigStore, AsyncMintLock, AuthSigKey, AuthSigStore, AuthStoreError, BlockingAuthSigStore, FileAuthSigStore,
    GrantsDigest, MemoryAuthSigStore, MintLock, StoreFailure,
};
pub use delegation::sign_with_delegation;
pub use error::{CallbackError, ManagerError};
pub use key_lifecycle::SessionKeyPolicy;
pub use reuse::{AuthSigUse, ResignReason, ReuseGrants};

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use time::Duration;

use crate::auth_sig::AuthSig;
use crate::bls::NetworkPublicKey;
use crate::error_chain::error_chain;
use crate::keystore::{KeyId, SessionKeyStore, VerifyingKey};
use crate::protocol::{session_key_uri, NodeUrl, SessionFormat};
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::{SessionParams, SessionSigs, SessionSigsRequest, DEFAULT_SESSION_LIFETIME};
use crate::timestamp::Timestamp;
use blocking::blocking;
use key_lifecycle::{CurrentKey, RetiredKey};
use reuse::{CachedAuthSig, Decision, Lookup, Needs};

/// Tunables of a [`SessionManager`].
#[derive(Debug, Clone, Copy)]
pub struct ManagerConfig {
    /// Lifetime of a new AuthSig and the longest session a call gets without an explicit
    /// expiration (default 24 h, as the SDK).
    pub lifetime: Duration,
    /// A cached AuthSig expiring within this margin is replaced (default 5 minutes), so a session
    /// is never handed out moments before its capability dies.
    pub expiry_margin: Duration,
    /// Moves `issuedAt` (SIWE and session) this far into the past, for clients whose clock runs
    /// ahead of the nodes' (they refuse an `issuedAt` more than 60 s ahead). Default 0 (off).
    pub issued_at_backdate: Duration,
    /// A lifetime for new AuthSigs independent of the session's: a new AuthSig then expires at
    /// the later of the session's expiration and now + this. Calls with short explicit
    /// expirations (a policy that caps sessions at minutes) then share one AuthSig instead of
    /// asking the signer each time. `None` (default): the session's expiration, as the SDK.
    pub auth_sig_lifetime: Option<Duration>,
    /// What a failing AuthSig store does to a call (default [`StoreFailures::Warn`]).
    pub store_failures: StoreFailures,
    /// Which cached AuthSigs may serve a call by what they grant (default
    /// [`ReuseGrants::Covering`]; a service minting for clients with different grants needs
    /// [`ReuseGrants::Exact`]).
    pub reuse_grants: ReuseGrants,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            lifetime: DEFAULT_SESSION_LIFETIME,
            expiry_margin: Duration::minutes(5),
            issued_at_backdate: Duration::ZERO,
            auth_sig_lifetime: None,
            store_failures: StoreFailures::Warn,
            reuse_grants: ReuseGrants::Covering,
        }
    }
}

/// How the manager treats an AuthSig store that cannot be read or written (or whose mint lock
/// cannot be had). A corrupt entry is never a failure: it is reported and replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreFailures {
    /// Go on and report it in [`SessionSigsReport::warnings`]: a new AuthSig is signed when the
    /// store cannot be read, and kept in memory only when it cannot be saved. Right for a local
    /// cache (the command line's directory).
    #[default]
    Warn,
    /// Fail the call with [`ManagerError::Store`]: nothing is signed when the store cannot be
    /// read or locked, and a new AuthSig that cannot be saved is neither used nor kept. Right
    /// for a service whose store is the record of what was signed. Reuse of the AuthSig held in
    /// memory does not touch the store and keeps working.
    Fail,
}

/// Per-call options, the rest of what `getSessionSigs` takes: the session parameters. The nonce
/// is used only when a new AuthSig is signed. Without an expiration a session lasts
/// [`ManagerConfig::lifetime`] (the v8 format: the v8 SDK's 15 minutes), cut to the AuthSig's
/// expiration; with one, a cached AuthSig that ends earlier is replaced. One cached wallet
/// AuthSig serves both formats: Datil and Naga nodes check it alike.
pub type SessionSigsOptions = SessionParams;

/// The result of [`SessionManager::session_sigs_report`].
#[derive(Debug)]
pub struct SessionSigsReport {
    /// The per-node map.
    pub sigs: SessionSigs,
    /// Reused or re-signed, and why.
    pub auth_sig: AuthSigUse,
    /// The session key that signed.
    pub session_key: KeyId,
    /// Problems that did not stop the call, e.g. a corrupt cache file that was replaced or a cache
    /// that could not be written.
    pub warnings: Vec<String>,
    /// The AuthSig was found in the store after waiting for the store's mint lock: another
    /// process sharing the store and session key had just signed it (reported as reused).
    pub waited: bool,
}

/// Counters since the manager was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Calls that reused the cached AuthSig.
    pub reused: u64,
    /// Calls that asked the signer for a new one.
    pub signed: u64,
    /// Session keys generated.
    pub keys_generated: u64,
    /// Retired session keys deleted.
    pub keys_deleted: u64,
}

#[derive(Debug, Default)]
struct State {
    discovered: bool,
    key_deleted: bool,
    current: Option<CurrentKey>,
    retired: Vec<RetiredKey>,
    // The in-memory copies, all for one signer and session key (one per grant set with
    // `ReuseGrants::Exact`); the store is read only for a key that has none here.
    cached: HashMap<AuthSigKey, Arc<CachedAuthSig>>,
    // The entry used last: it names the previous signer when the signer changed.
    last: Option<AuthSigKey>,
    // The latest expiration of any AuthSig handed out for the current key: how long it must live.
    latest_auth_expiration: Option<Timestamp>,
    rotated: bool,
}

/// At most this many grant sets' AuthSigs are held in memory; beyond it the one expiring first
/// is dropped (it is still in the store).
const MAX_HELD_GRANT_SETS: usize = 1024;

impl State {
    /// The entry used last, if it is still held.
    fn held(&self) -> Option<(&AuthSigKey, &Arc<CachedAuthSig>)> {
        self.last.as_ref().and_then(|k| self.cached.get_key_value(k))
    }

    /// Holds `cached` under `key` and makes it the last used. Entries of another signer or
    /// session key, and expired ones, are dropped: memory is never read for them again.
    fn hold(&mut self, key: AuthSigKey, cached: Arc<CachedAuthSig>, now: Timestamp) {
        self.cached.retain(|k, c| {
            k.signer == key.signer && k.session_key == key.session_key && c.expiration().is_some_and(|e| e > now)
        });
        if self.cached.len() >= MAX_HELD_GRANT_SETS && !self.cached.contains_key(&key) {
            let first = self.cached.iter().min_by_key(|(_, c)| c.expiration()).map(|(k, _)| *k);
            if let Some(first) = first {
                self.cached.remove(&first);
            }
        }
        self.cached.insert(key, cached);
        self.last = Some(key);
    }

    /// Forgets every in-memory AuthSig.
    fn drop_held(&mut self) {
        self.cached.clear();
        self.last = None;
    }
}

type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How [`SessionManager::mint`] got an AuthSig.
enum Minted {
    /// Another process saved one that serves while this one waited for the mint lock.
    Waited(Arc<CachedAuthSig>, Timestamp),
    /// The signer signed a new one (saved).
    Signed(Arc<CachedAuthSig>),
}

/// Mints per-node session signatures, reusing the signer's AuthSig while it may be reused.
///
/// Cheap to share: wrap it in an `Arc` and call it from many tasks. Calls that need a new AuthSig
/// wait for one another, so concurrent callers cause one signature, not one each. Blocking key
/// stores (PKCS#11) sign off the runtime across their session pool; in-memory keys sign inline.
pub struct SessionManager {
    keys: Arc<dyn SessionKeyStore>,
    policy: SessionKeyPolicy,
    auth: RwLock<AuthSource>,
    store: Arc<dyn AsyncAuthSigStore>,
    config: ManagerConfig,
    clock: Clock,
    network_keys: Vec<NetworkPublicKey>,
    state: tokio::sync::Mutex<State>,
    reused: AtomicU64,
    signed: AtomicU64,
    keys_generated: AtomicU64,
    keys_deleted: AtomicU64,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("policy", &self.policy)
            .field("auth", &*self.auth.read().unwrap_or_else(|p| p.into_inner()))
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `keys` (with `policy`), signing AuthSigs with `auth` and caching them in
    /// the synchronous `store` (its calls run on the blocking pool: [`BlockingAuthSigStore`]),
    /// with [`ManagerConfig::default`] and the system clock.
    pub fn new(
        keys: Arc<dyn SessionKeyStore>,
        policy: SessionKeyPolicy,
        auth: AuthSource,
        store: Arc<dyn AuthSigStore>,
    ) -> Self {
        Self::new_async(keys, policy, auth, Arc::new(BlockingAuthSigStore::new(store)))
    }

    /// [`Self::new`] with a store whose calls are async ([`AsyncAuthSigStore`]): the manager
    /// awaits them on the runtime, and gives its mint lock back with
    /// [`AsyncMintLock::release`].
    pub fn new_async(
        keys: Arc<dyn SessionKeyStore>,
        policy: SessionKeyPolicy,
        auth: AuthSource,
        store: Arc<dyn AsyncAuthSigStore>,
    ) -> Self {
        Self {
            keys,
            policy,
            auth: RwLock::new(auth),
            store,
            config: ManagerConfig::default(),
            clock: Arc::new(Timestamp::now),
            network_keys: Vec::new(),
            state: tokio::sync::Mutex::new(State::default()),
            reused: AtomicU64::new(0),
            signed: AtomicU64::new(0),
            keys_generated: AtomicU64::new(0),
            keys_deleted: AtomicU64::new(0),
        }
    }

    /// Replaces the tunables.
    pub fn with_config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clock (tests, simulations).
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The Lit network's BLS public key(s), to check network-signed (`LIT_BLS`, PKP) AuthSigs.
    /// Without one such AuthSigs are never reused ([`ResignReason::Unverifiable`]) and a callback
    /// that returns one is refused.
    pub fn with_network_keys(mut self, keys: impl IntoIterator<Item = NetworkPublicKey>) -> Self {
        self.network_keys = keys.into_iter().collect();
        self
    }

    /// Switches the signer (e.g. another account). AuthSigs are cached per signer, so the old
    /// signer's AuthSig is never used for the new one.
    pub fn set_auth_source(&self, auth: AuthSource) {
        *self.auth.write().unwrap_or_else(|p| p.into_inner()) = auth;
    }

    /// Counters since the manager was made.
    pub fn stats(&self) -> ManagerStats {
        ManagerStats {
            reused: self.reused.load(Ordering::Relaxed),
            signed: self.signed.load(Ordering::Relaxed),
            keys_generated: self.keys_generated.load(Ordering::Relaxed),
            keys_deleted: self.keys_deleted.load(Ordering::Relaxed),
        }
    }

    /// The current session key, making or rotating it as the policy says.
    pub async fn session_key(&self) -> Result<(KeyId, VerifyingKey), ManagerError> {
        let now = (self.clock)();
        let signer = self.auth_source().signer();
        let mut state = self.state.lock().await;
        let key = self.ensure_key(&mut state, now, signer).await?;
        Ok((key.id, key.public))
    }

    /// The per-node session signatures for `nodes` and `requests` (the SDK's `getSessionSigs`).
    pub async fn session_sigs(
        &self,
        nodes: &[NodeUrl],
        requests: &[ResourceAbilityRequest],
        options: &SessionSigsOptions,
    ) -> Result<SessionSigs, ManagerError> {
        Ok(self.session_sigs_report(nodes, requests, options).await?.sigs)
    }

    /// [`Self::session_sigs`], also saying whether the AuthSig was reused and why not.
    pub async fn session_sigs_report(
        &self,
        nodes: &[NodeUrl],
        requests: &[ResourceAbilityRequest],
        options: &SessionSigsOptions,
    ) -> Result<SessionSigsReport, ManagerError> {
        let now = (self.clock)();
        let source = self.auth_source();
        let signer = source.signer();
        let mut params = options.clone();
        params.expiration = Some(options.expiration.unwrap_or_else(|| now.saturating_add(self.config.lifetime)));
        let mut request = SessionSigsRequest {
            nodes: nodes.to_vec(),
            requests: requests.to_vec(),
            now: now.saturating_sub(self.config.issued_at_backdate),
            params,
        };
        let nodes = request.session_nodes()?;

        let mut state = self.state.lock().await;
        let key = self.ensure_key(&mut state, now, signer).await?;
        let grants = self.config.reuse_grants.cache_key(requests);
        let auth_key = AuthSigKey { signer, session_key: key.public, grants };
        let needs = Needs {
            now,
            margin: self.config.expiry_margin,
            session_address: &key.address,
            signer,
            requests,
            until: options.expiration,
            format: options.format,
            grants: self.config.reuse_grants,
        };
        let strict = self.config.store_failures == StoreFailures::Fail;
        let lookup = match state.cached.get(&auth_key) {
            Some(cached) => Lookup::Memory(cached.clone()),
            None => Lookup::Store(self.load_checked(auth_key, strict).await?),
        };
        let Decision { reuse, reason, mut warnings } =
            reuse::decide(state.held(), state.rotated, lookup, &needs, &self.network_keys);

        let mut waited = false;
        let (auth_sig, auth_expiration, used) = match reuse {
            Some((cached, expiration)) => {
                state.hold(auth_key, cached.clone(), now);
                self.reused.fetch_add(1, Ordering::Relaxed);
                (cached, expiration, AuthSigUse::Reused { expiration })
            }
            None => match self.mint(&source, &request, &key, &needs, auth_key, &mut warnings).await? {
                Minted::Waited(cached, expiration) => {
                    waited = true;
                    state.hold(auth_key, cached.clone(), now);
                    self.reused.fetch_add(1, Ordering::Relaxed);
                    (cached, expiration, AuthSigUse::Reused { expiration })
                }
                Minted::Signed(cached) => {
                    let expiration = cached.expiration().unwrap_or(now);
                    state.hold(auth_key, cached.clone(), now);
                    state.rotated = false;
                    self.signed.fetch_add(1, Ordering::Relaxed);
                    (cached, expiration, AuthSigUse::Signed { reason, expiration })
                }
            },
        };
        state.latest_auth_expiration = state.latest_auth_expiration.max(Some(auth_expiration));
        drop(state);

        // Without an explicit expiration the session ends with its capability; a v8 session
        // also lasts no longer than the v8 SDK's default, so each one is minted per request
        // (the SDK's "server sessions") while the AuthSig lives `lifetime`.
        if options.expiration.is_none() {
            let wanted = match options.format {
                SessionFormat::V1 => request.params.expiration,
                _ => Some(request.now.saturating_add(options.default_lifetime())),
            };
            request.params.expiration = wanted.map(|e| e.min(auth_expiration));
        }
        let unsigned = request.template_with(auth_sig.json.clone()).prepare(key.public, &nodes);
        let sigs = self.sign_nodes(unsigned, &key.id).await?;
        Ok(SessionSigsReport { sigs, auth_sig: used, session_key: key.id, warnings, waited })
    }

    /// A new AuthSig for `auth_key`, under the store's mint lock when it has one: once the lock
    /// is held the store is read again, and what another process saved meanwhile is reused if
    /// it serves. Otherwise the signer signs and the AuthSig is saved before the lock is given
    /// back, so the next holder finds it.
    async fn mint(
        &self,
        source: &AuthSource,
        request: &SessionSigsRequest,
        key: &CurrentKey,
        needs: &Needs<'_>,
        auth_key: AuthSigKey,
        warnings: &mut Vec<String>,
    ) -> Result<Minted, ManagerError> {
        let strict = self.config.store_failures == StoreFailures::Fail;
        let lock = match self.store.lock_for_mint(&auth_key).await {
            Ok(lock) => lock,
            Err(e) if strict => return Err(ManagerError::Store(e)),
            Err(e) => {
                warnings.push(format!("{}; signing without the store's mint lock", error_chain(&e)));
                None
            }
        };
        let locked = lock.is_some();
        let result = async {
            if locked {
                let loaded = self.load_checked(auth_key, strict).await?;
                let found = reuse::decide(None, false, Lookup::Store(loaded), needs, &self.network_keys);
                warnings.extend(found.warnings);
                if let Some((cached, expiration)) = found.reuse {
                    return Ok(Minted::Waited(cached, expiration));
                }
            }
            let cached = Arc::new(self.resign(source, request, key, needs).await?);
            match self.store.save(&auth_key, &cached.auth_sig).await {
                Ok(()) => {}
                Err(e) if strict => return Err(ManagerError::Store(e)),
                Err(e) => warnings.push(format!("{}; the new AuthSig is cached in memory only", error_chain(&e))),
            }
            Ok(Minted::Signed(cached))
        }
        .await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        result
    }

    /// The stored AuthSig; with `strict`, a store that cannot be read fails the call (a corrupt
    /// entry is not a failure: it is reported and replaced).
    async fn load_checked(
        &self,
        key: AuthSigKey,
        strict: bool,
    ) -> Result<Result<Option<AuthSig>, AuthStoreError>, ManagerError> {
        match self.store.load(&key).await {
            Err(e @ (AuthStoreError::Io { .. } | AuthStoreError::Store { .. })) if strict => {
                Err(ManagerError::Store(e))
            }
            other => Ok(other),
        }
    }

    /// Drops the cached AuthSigs of the current signer and session key, of every grant set (memory
    /// and store), the SDK's `disconnectWeb3`. With `delete_session_key` the session key is deleted too; a
    /// [`SessionKeyPolicy::Labelled`] manager makes a new one on the next call, a
    /// [`SessionKeyPolicy::Fixed`] one fails with [`ManagerError::NoSessionKey`].
    pub async fn forget(&self, delete_session_key: bool) -> Result<(), ManagerError> {
        let signer = self.auth_source().signer();
        let mut state = self.state.lock().await;
        state.drop_held();
        let Some(current) = self.existing_key(&mut state, signer).await? else { return Ok(()) };
        self.store.remove_all(signer, &current.public).await?;
        if delete_session_key {
            let keys = self.keys.clone();
            let id = current.id.clone();
            blocking(move || keys.delete(&id)).await??;
            state.current = None;
            state.latest_auth_expiration = None;
            state.key_deleted = true;
        }
        Ok(())
    }

    fn auth_source(&self) -> AuthSource {
        self.auth.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn resign(
        &self,
        source: &AuthSource,
        request: &SessionSigsRequest,
        key: &CurrentKey,
        needs: &Needs<'_>,
    ) -> Result<CachedAuthSig, ManagerError> {
        // The AuthSig may outlive the session (ManagerConfig::auth_sig_lifetime), never the reverse.
        let expiration = match self.config.auth_sig_lifetime {
            Some(lifetime) => request.expiration().max(needs.now.saturating_add(lifetime)),
            None => request.expiration(),
        };
        let needed = AuthNeeded {
            siwe: request.session_siwe_for(&key.public, source.signer()).with_expiration(expiration),
            session_key: key.public,
            session_key_uri: session_key_uri(&key.public),
            requests: request.requests.clone(),
            expiration,
            nonce: request.params.nonce.clone(),
            format: request.params.format,
        };
        let auth_sig = source.auth_sig(needed).await?;
        // The SIWE library's own checks run here once (signature, parse); cheap checks per call.
        let checked = CachedAuthSig::new(auth_sig, &self.network_keys);
        checked.reusable(needs).map_err(ManagerError::Rejected)?;
        Ok(checked)
    }
}
