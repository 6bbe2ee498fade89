//! Where a [`super::SessionManager`] keeps the AuthSigs it reuses: one AuthSig per signer,
//! session key and (with [`ReuseGrants::Exact`](super::ReuseGrants::Exact)) grant set, so
//! switching any of them never picks up another's signature, and clients that alternate grant
//! sets find each one's AuthSig again.

mod asynchronous;
mod file;
mod memory;

pub use asynchronous::{AsyncAuthSigStore, AsyncMintLock, BlockingAuthSigStore};
pub use file::FileAuthSigStore;
pub use memory::MemoryAuthSigStore;

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;
use crate::recap::Recap;
use crate::resources::ResourceAbilityRequest;
use crate::siwe::recap_for_requests;

/// The identity of a cached AuthSig: who signed it, for which session key, and for which grants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AuthSigKey {
    /// The wallet (or PKP) address that signs the session key.
    pub signer: EthAddress,
    /// The session key the AuthSig delegates to.
    pub session_key: VerifyingKey,
    /// The grant set the entry serves: `Some` when the manager reuses only AuthSigs granting
    /// exactly the request ([`ReuseGrants::Exact`](super::ReuseGrants::Exact)), so each grant
    /// set has its own entry; `None` for one entry per signer and session key that serves every
    /// request it covers ([`ReuseGrants::Covering`](super::ReuseGrants::Covering)).
    pub grants: Option<GrantsDigest>,
}

impl AuthSigKey {
    /// `<signer lowercase hex>-<session key hex>`, then `-<grants digest hex>` when the entry is
    /// for one grant set: a stable name for files and logs.
    ///
    /// ```
    /// use lit_session_signer::manager::{AuthSigKey, GrantsDigest};
    /// # use lit_session_signer::eth::EthAddress;
    /// # use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
    /// # let keys = MemoryKeyStore::new();
    /// # let session_key = keys.public_key(&keys.generate("s").unwrap()).unwrap();
    /// let key = AuthSigKey { signer: EthAddress::from_bytes([7; 20]), session_key, grants: None };
    /// assert_eq!(key.name().len(), 40 + 1 + 64);
    /// let grants = GrantsDigest::of_requests(&["lit-pkp://*=pkp-signing".parse().unwrap()]);
    /// let key = AuthSigKey { grants: Some(grants), ..key };
    /// assert!(key.name().ends_with(&format!("-{}", grants.to_hex())));
    /// ```
    pub fn name(&self) -> String {
        let pair = session_pair_name(self.signer, &self.session_key);
        match &self.grants {
            Some(grants) => format!("{pair}-{}", grants.to_hex()),
            None => pair,
        }
    }
}

/// `<signer lowercase hex>-<session key hex>`: the part of [`AuthSigKey::name`] every grant set of
/// one signer and session key shares.
pub(crate) fn session_pair_name(signer: EthAddress, session_key: &VerifyingKey) -> String {
    format!("{}-{}", hex::encode(signer.as_bytes()), hex::encode(session_key.as_bytes()))
}

impl fmt::Display for AuthSigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signer {} / session key {}", self.signer, hex::encode(self.session_key.as_bytes()))?;
        match &self.grants {
            Some(grants) => write!(f, " / grants {grants}"),
            None => Ok(()),
        }
    }
}

/// What an AuthSig grants, as a cache key: SHA-256 of the JCS-canonical JSON of the ReCap
/// (`{"att":{…},"prf":[]}`) a new AuthSig for the requests carries, the same bytes its SIWE
/// encodes. Resources and abilities are sets (the ReCap's sorted maps), so neither the order of
/// the requests nor a repeated request changes the digest; restriction lists keep their order,
/// as the ReCap does (and as [`ReuseGrants::Exact`](super::ReuseGrants::Exact) compares them).
///
/// ```
/// use lit_session_signer::manager::GrantsDigest;
/// use lit_session_signer::resources::ResourceAbilityRequest;
///
/// let sign: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
/// let run: ResourceAbilityRequest = "lit-litaction://*=lit-action-execution".parse().unwrap();
/// let one = GrantsDigest::of_requests(&[sign.clone(), run.clone()]);
/// assert_eq!(one, GrantsDigest::of_requests(&[run.clone(), sign.clone(), run]));
/// assert_ne!(one, GrantsDigest::of_requests(&[sign]));
/// assert_eq!(one.to_hex().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantsDigest([u8; 32]);

impl GrantsDigest {
    /// The digest of what a new AuthSig for `requests` grants.
    pub fn of_requests(requests: &[ResourceAbilityRequest]) -> Self {
        Self::of_recap(&recap_for_requests(requests))
    }

    /// The digest of what `recap` grants.
    pub fn of_recap(recap: &Recap) -> Self {
        Self(Sha256::digest(recap.to_canonical_json().as_bytes()).into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex of the digest (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses [`to_hex`](Self::to_hex)'s form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Display for GrantsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for GrantsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantsDigest({self})")
    }
}

/// Errors of an [`AuthSigStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthStoreError {
    /// A stored entry that cannot be read as an AuthSig. The manager reports it and replaces it
    /// with a fresh signature; it never uses it.
    #[error("cached AuthSig {path} is corrupt ({reason}); it will be replaced")]
    Corrupt {
        /// The file (or entry name).
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The storage itself failed (permissions, disk full, …).
    #[error("AuthSig cache {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A shared store (a database) failed; `failure` says how, so a caller can tell a store
    /// that is down from one that only kept this call waiting too long.
    #[error("AuthSig store {store}: {message}")]
    Store {
        /// Where the store is (a path or host list; never a password).
        store: String,
        /// How it failed.
        failure: StoreFailure,
        /// What failed.
        message: String,
    },
}

/// How a shared [`AuthSigStore`] failed (see [`AuthStoreError::Store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// The store cannot be reached or refused the operation: it is down for every call.
    Unavailable,
    /// The store is up but this call waited too long (for a connection, a lock, its turn):
    /// the next call may well succeed.
    Busy,
    /// Another writer changed the entry meanwhile; what it wrote is kept.
    Conflict,
}

/// Storage for cached AuthSigs, synchronous. Calls may block (file I/O): the manager makes them
/// on Tokio's blocking pool ([`BlockingAuthSigStore`]), and only when its in-memory copy is
/// missing or unusable, never on the reuse path. A store whose I/O is async (a database client
/// on the runtime) implements [`AsyncAuthSigStore`] instead.
pub trait AuthSigStore: Send + Sync {
    /// The AuthSig stored under `key`, `Ok(None)` if there is none, or
    /// [`AuthStoreError::Corrupt`] for an entry that is not a well-formed AuthSig.
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError>;

    /// Stores `auth_sig` under `key`, replacing any previous entry.
    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError>;

    /// Removes the entry under `key`; removing a missing entry is not an error.
    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError>;

    /// Removes every entry of `signer` and `session_key`, whatever grants it is for (the
    /// manager's `forget`, and a retired session key's clean-up). The default removes the
    /// entry without a grant set only (`grants: None`, the one entry a store has when its
    /// manager reuses covering AuthSigs); a store that keeps entries per grant set overrides it.
    fn remove_all(&self, signer: EthAddress, session_key: &VerifyingKey) -> Result<(), AuthStoreError> {
        self.remove(&AuthSigKey { signer, session_key: *session_key, grants: None })
    }

    /// Takes the store's lock for minting a new AuthSig under `key`, waiting while another
    /// process holds it. A store shared by several processes implements it so that processes
    /// sharing a session key cause one wallet signature: the manager re-reads the store once
    /// it holds the lock and reuses what the previous holder saved. `Ok(None)` (the default)
    /// means the store has no such lock (one process). A lock that cannot be had in the
    /// store's own time bound is an error.
    fn lock_for_mint(&self, key: &AuthSigKey) -> Result<Option<MintLock>, AuthStoreError> {
        let _ = key;
        Ok(None)
    }
}

/// A held mint lock (see [`AuthSigStore::lock_for_mint`]): released when dropped. The manager
/// drops it off the async runtime (on the blocking pool), so its release may do blocking I/O.
pub struct MintLock(#[allow(dead_code)] Box<dyn Send>);

impl MintLock {
    /// Wraps the store's guard; dropping the guard must release the lock.
    pub fn new(guard: impl Send + 'static) -> Self {
        Self(Box::new(guard))
    }
}

impl fmt::Debug for MintLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MintLock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_show_their_cause_once() {
        let e = AuthStoreError::Io { path: "/c".into(), source: std::io::Error::other("disk full") };
        assert_eq!(crate::error_chain::error_chain(&e), "AuthSig cache /c: disk full");
        let e = AuthStoreError::Store { store: "db".into(), failure: StoreFailure::Busy, message: "slow".into() };
        assert_eq!(crate::error_chain::error_chain(&e), "AuthSig store db: slow");
    }
}
