//! Where a [`super::SessionManager`] keeps the AuthSig it reuses: one AuthSig per
//! (signer, session key) pair, so switching either never picks up the other's signature.

mod file;
mod memory;

pub use file::FileAuthSigStore;
pub use memory::MemoryAuthSigStore;

use std::fmt;
use std::path::PathBuf;

use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::keystore::VerifyingKey;

/// The identity of a cached AuthSig: who signed it and for which session key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AuthSigKey {
    /// The wallet (or PKP) address that signs the session key.
    pub signer: EthAddress,
    /// The session key the AuthSig delegates to.
    pub session_key: VerifyingKey,
}

impl AuthSigKey {
    /// `<signer lowercase hex>-<session key hex>`: a stable name for files and logs.
    pub fn name(&self) -> String {
        format!("{}-{}", hex::encode(self.signer.as_bytes()), hex::encode(self.session_key.as_bytes()))
    }
}

impl fmt::Display for AuthSigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signer {} / session key {}", self.signer, hex::encode(self.session_key.as_bytes()))
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
}

/// Storage for cached AuthSigs. Calls may block (file I/O); the manager makes them only when its
/// in-memory copy is missing or unusable, never on the reuse path.
pub trait AuthSigStore: Send + Sync {
    /// The AuthSig stored under `key`, `Ok(None)` if there is none, or
    /// [`AuthStoreError::Corrupt`] for an entry that is not a well-formed AuthSig.
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError>;

    /// Stores `auth_sig` under `key`, replacing any previous entry.
    fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError>;

    /// Removes the entry under `key`; removing a missing entry is not an error.
    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError>;

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
/// drops it off the async runtime, so its release may do I/O.
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
    }
}
