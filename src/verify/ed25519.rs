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

pub use crate::ed25519::{has_canonical_y, is_canonical_scalar, is_small_order_encoding};

/// Decodes `address`: 32 bytes of hex, `0x` tolerated, a valid point, not of small order.
pub fn decode_key(address: &str) -> Result<VerifyingKey, VerifyError> {
    let body = address.strip_prefix("0x").unwrap_or(address);
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(body, &mut bytes).map_err(|_| {
        VerifyError::SessionKeyEncoding(format!(
            "address must be 32 bytes of hex, got {} characters",
            body.chars().count()
        ))
    })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::SessionKeyEncoding("address is not an ed25519 point".into()))?;
    if key.is_weak() {
        return Err(VerifyError::WeakSessionKey);
    }
    Ok(key)
}

/// Decodes `sig`: 64 bytes of hex.
pub fn decode_signature(sig: &str) -> Result<Signature, VerifyError> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(sig, &mut bytes).map_err(|_| {
        VerifyError::SignatureEncoding(format!("sig must be 64 bytes of hex, got {} characters", sig.chars().count()))
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
