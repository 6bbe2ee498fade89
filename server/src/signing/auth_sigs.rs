//! The session manager's AuthSig cache as the service's store keeps it: rows keyed by
//! `store::AuthSigId`, the AuthSig as its JSON, and the cache's own error kinds.

use std::path::PathBuf;

use super::{AuthSig, AuthStoreError, StoreFailure, Timestamp};

/// Parses a stored AuthSig (JSON text).
pub fn parse_auth_sig(text: &str) -> Result<AuthSig, serde_json::Error> {
    serde_json::from_str(text)
}

/// The `Expiration Time` of an AuthSig's SIWE, if it has one (for the store's `expires_at`).
pub fn auth_sig_expiration(auth_sig: &AuthSig) -> Option<Timestamp> {
    let message = lit_session_signer::siwe::parse(&auth_sig.signed_message).ok()?;
    let exp = message.expiration_time?;
    exp.to_string().parse().ok()
}

/// A stored entry that is not an AuthSig: the manager reports it and replaces it.
pub fn corrupt_entry(name: &str, reason: &str) -> AuthStoreError {
    AuthStoreError::Corrupt { path: PathBuf::from(name), reason: reason.to_string() }
}

/// A storage failure of the AuthSig cache.
pub fn store_failure(name: &str, failure: StoreFailure, message: &str) -> AuthStoreError {
    AuthStoreError::Store { store: name.to_string(), failure, message: message.to_string() }
}
