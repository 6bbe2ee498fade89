//! The session signature's ed25519 check (the node's rule 1) and the byte-level checks that let
//! the batch path be as strict as `verify_strict`.
//!
//! `verify_strict` rejects: s ≥ ℓ, an R that is not the canonical encoding of the recomputed
//! point (so y ≥ p, or x = 0 with the sign bit set), R of small order, and A of small order.
//! [`precheck`] rejects exactly those cases from the bytes alone ([`crate::ed25519`]'s checks,
//! as the verifier's errors; A's check uses the already decompressed key), so a signature
//! reaching `verify_batch` differs from one `verify_strict` would see only in the batch equation
//! itself; see [`super::batch`] for that.

use ed25519_dalek::{Signature, VerifyingKey};

use super::error::VerifyError;
use super::node::hex::{ed25519_signature, hex_to_array};

pub use crate::ed25519::{has_canonical_y, is_canonical_scalar, is_small_order_encoding};

/// Decodes `address` as the node's `check_ed25519_auth_sig` does: 32 bytes by lit-core's
/// `hex_to_bytes` (`0x` optional, 63 digits left-padded, any case), a valid point, not of small
/// order (`verify_strict` refuses those).
pub fn decode_key(address: &str) -> Result<VerifyingKey, VerifyError> {
    let bytes = hex_to_array::<32>(address).ok_or_else(|| {
        VerifyError::SessionKeyEncoding(format!(
            "address must be 32 bytes of hex, got {:?}",
            address.chars().take(80).collect::<String>()
        ))
    })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::SessionKeyEncoding("address is not an ed25519 point".into()))?;
    if key.is_weak() {
        return Err(VerifyError::WeakSessionKey);
    }
    Ok(key)
}

/// Decodes `sig` as ed25519's `Signature::from_str`: 128 hex digits, one case, no prefix.
pub fn decode_signature(sig: &str) -> Result<Signature, VerifyError> {
    let bytes = ed25519_signature(sig).ok_or_else(|| {
        VerifyError::SignatureEncoding(format!(
            "sig must be 128 hex digits of one case, got {} characters",
            sig.chars().count()
        ))
    })?;
    Ok(Signature::from_bytes(&bytes))
}

/// The checks `verify_strict` makes on the signature's bytes: s < ℓ, R canonical, R not of
/// small order. (The key's small order is checked by [`decode_key`].)
pub fn precheck(sig: &Signature) -> Result<(), VerifyError> {
    crate::ed25519::precheck(sig).map_err(VerifyError::NonCanonicalSignature)
}

/// Rule 1 in full: decode, precheck, `verify_strict` over the raw bytes of `signed_message`.
pub fn verify(address: &str, sig: &str, signed_message: &str) -> Result<(), VerifyError> {
    verify_with(&decode_key(address)?, sig, signed_message)
}

/// Rule 1 with an already decoded (and weak-checked) key.
pub fn verify_with(key: &VerifyingKey, sig: &str, signed_message: &str) -> Result<(), VerifyError> {
    let sig = decode_signature(sig)?;
    precheck(&sig)?;
    key.verify_strict(signed_message.as_bytes(), &sig).map_err(|_| VerifyError::BadSignature)
}
