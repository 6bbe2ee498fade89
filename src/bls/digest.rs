//! The message a Lit network signs for a PKP session: not the SIWE itself but
//! `sha256(utf8("lit_session:" + lowercase_hex(eip191_hash(siwe))))` (the node's
//! `siwe_hash_to_bls_session_hash`), which keeps network signatures on this path apart from any
//! other use of the key.

use sha2::{Digest, Sha256};

use crate::eth::eip191_hash;

/// The prefix in front of the hex EIP-191 hash.
pub const SESSION_DIGEST_PREFIX: &str = "lit_session:";

/// The digest of a SIWE text exactly as given (what the SDK hashes). The node hashes the
/// `siwe` crate's re-rendering of the parsed message, which is the same text for every message
/// that round-trips (all SDK- and node-made ones do).
///
/// ```
/// use lit_session_signer::bls::session_digest;
/// let d = session_digest("example.com wants you to sign in with your Ethereum account:\n…");
/// assert_eq!(d.len(), 32);
/// ```
pub fn session_digest(siwe_text: &str) -> [u8; 32] {
    session_digest_from_eip191(&eip191_hash(siwe_text.as_bytes()))
}

/// The digest from an already computed EIP-191 hash.
pub fn session_digest_from_eip191(eip191: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SESSION_DIGEST_PREFIX.as_bytes());
    h.update(hex::encode(eip191).as_bytes());
    h.finalize().into()
}
