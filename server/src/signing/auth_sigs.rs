//! The session manager's AuthSig cache as the service's store keeps it: rows keyed by text
//! columns, the AuthSig as its JSON, and the cache's own error kinds.

use std::path::PathBuf;

use super::{AuthSig, AuthSigKey, AuthStoreError, Timestamp};

/// Parses a stored AuthSig (JSON text).
pub fn parse_auth_sig(text: &str) -> Result<AuthSig, serde_json::Error> {
    serde_json::from_str(text)
}

/// The key of a stored AuthSig as text columns: (signer address hex, session key hex). An entry
/// for one grant set (`key.grants`) appends `-<grants digest hex>` to the session key column
/// until the schema gives the digest a column of its own.
pub fn auth_sig_key_columns(key: &AuthSigKey) -> (String, String) {
    let session_key = hex::encode(key.session_key.as_bytes());
    let session_key = match key.grants {
        Some(grants) => format!("{session_key}-{grants}"),
        None => session_key,
    };
    (hex::encode(key.signer.as_bytes()), session_key)
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
pub fn store_failure(name: &str, message: &str) -> AuthStoreError {
    AuthStoreError::Io { path: PathBuf::from(name), source: std::io::Error::other(message.to_string()) }
}
