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
