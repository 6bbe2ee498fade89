//! The session signature's ed25519 check (the node's rule 1) and the byte-level checks that let
//! the batch path be as strict as `verify_strict`.
//!
//! `verify_strict` rejects: s ≥ ℓ, an R that is not the canonical encoding of the recomputed
//! point (so y ≥ p, or x = 0 with the sign bit set), R of small order, and A of small order.
//! [`precheck`] rejects exactly those cases from the bytes alone (A's check uses the already
//! decompressed key), so a signature reaching `verify_batch` differs from one `verify_strict`
//! would see only in the batch equation itself; see [`super::batch`] for that.

use ed25519_dalek::{Signature, VerifyingKey};

use super::error::VerifyError;
use super::node::hex::{ed25519_signature, hex_to_array};

/// ℓ, the order of the prime subgroup, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// p = 2^255 − 19, little-endian.
const P: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// The y coordinates (little-endian, canonical) of the 8 points of order dividing 8: y = 0
/// (order 4), 1 (identity), p − 1 (order 2) and ±y₈ (order 8). Whatever the sign bit, an
/// encoding with one of these y is a small-order point (or does not decompress).
pub(crate) const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
];

// Little-endian a < b.
fn lt(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Whether `s` (little-endian) is reduced, i.e. s < ℓ.
pub fn is_canonical_scalar(s: &[u8; 32]) -> bool {
    lt(s, &L)
}

/// Whether a compressed point has y < p (the only encodings `verify_strict` can match).
pub fn has_canonical_y(point: &[u8; 32]) -> bool {
    let mut y = *point;
    y[31] &= 0x7f;
    lt(&y, &P)
}

/// Whether a compressed point with canonical y is of small order (whatever its sign bit).
pub fn is_small_order_encoding(point: &[u8; 32]) -> bool {
    let mut y = *point;
    y[31] &= 0x7f;
    SMALL_ORDER_Y.contains(&y)
}

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
    if !is_canonical_scalar(sig.s_bytes()) {
        return Err(VerifyError::NonCanonicalSignature("s is not reduced (s ≥ ℓ)"));
    }
    if !has_canonical_y(sig.r_bytes()) {
        return Err(VerifyError::NonCanonicalSignature("R is not canonically encoded (y ≥ p)"));
    }
    if is_small_order_encoding(sig.r_bytes()) {
        return Err(VerifyError::NonCanonicalSignature("R is a small-order point"));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn small_order_table_is_exactly_the_8_torsion_points() {
        // Each listed y, with either sign bit, is a small-order point or no point at all.
        let mut weak = 0;
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut enc = y;
                enc[31] |= sign;
                if let Ok(k) = VerifyingKey::from_bytes(&enc) {
                    assert!(k.is_weak(), "{}", hex::encode(enc));
                    weak += 1;
                }
            }
        }
        assert!(weak >= 8);
        // The order-8 point generates all 8; each multiple's y is listed.
        let mut enc = SMALL_ORDER_Y[3];
        enc[31] &= 0x7f;
        let p8 = VerifyingKey::from_bytes(&enc).unwrap().to_edwards();
        let mut q = p8;
        for _ in 0..8 {
            assert!(is_small_order_encoding(&q.compress().to_bytes()));
            q += p8;
        }
        // An ordinary key's R is not listed.
        let sk = SigningKey::from_bytes(&[7; 32]);
        let sig = sk.sign(b"x");
        assert!(precheck(&sig).is_ok());
    }

    #[test]
    fn scalar_and_y_bounds() {
        assert!(!is_canonical_scalar(&L));
        let mut below = L;
        below[0] -= 1;
        assert!(is_canonical_scalar(&below));
        assert!(!has_canonical_y(&P));
        let mut below = P;
        below[0] -= 1;
        assert!(has_canonical_y(&below));
        below[31] |= 0x80;
        assert!(has_canonical_y(&below));
    }
}
