//! What can go wrong in a [`super::SessionManager`] call.

use std::error::Error;

use super::auth_store::AuthStoreError;
use super::reuse::ResignReason;
use crate::auth_sig::AuthSigError;
use crate::keystore::KeyStoreError;
use crate::session_sigs::SessionSigsError;

/// Any error an application callback ([`super::AuthCallback`]) returns.
pub type CallbackError = Box<dyn Error + Send + Sync>;

/// Errors of a [`super::SessionManager`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The nodes, requests or options are not usable.
    #[error(transparent)]
    Request(#[from] SessionSigsError),
    /// The session key store failed.
    #[error("session key")]
    KeyStore(#[from] KeyStoreError),
    /// The wallet failed to sign the AuthSig.
    #[error(transparent)]
    Wallet(#[from] AuthSigError),
    /// The application callback failed.
    #[error("auth callback failed: {0}")]
    Callback(CallbackError),
    /// The signer returned an AuthSig the manager cannot use.
    #[error("the new AuthSig was refused: {0}")]
    Rejected(ResignReason),
    /// The AuthSig given to [`super::sign_with_delegation`] cannot sign this session.
    #[error("the delegation AuthSig cannot be used: {}", .0.describe("it"))]
    Delegation(ResignReason),
    /// The AuthSig cache failed where it mattered (e.g. `forget` could not delete).
    #[error(transparent)]
    Store(#[from] AuthStoreError),
    /// The session key was deleted and the policy cannot make another.
    #[error("no session key: it was deleted by forget(); configure a new one")]
    NoSessionKey,
    /// A blocking task (HSM or file I/O) died.
    #[error("background task failed: {0}")]
    Task(String),
}
