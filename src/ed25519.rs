//! Ed25519 checks shared by the key stores and the verifier: the byte checks `verify_strict`
//! makes, and strict verification of many signatures under one key at once
//! ([`verify_strict_all`], how a key store checks the signatures a token returns).
//!
//! `verify_strict` rejects: s ≥ ℓ, an R that is not the canonical encoding of the recomputed
//! point (so y ≥ p, or x = 0 with the sign bit set), R of small order, and A of small order.
//! [`precheck`] rejects the R and s cases from the bytes alone, so a signature that reaches a
//! batch equation (ed25519-dalek's `verify_batch` in the verifier, the one-key equation here)
//! differs from one `verify_strict` would see only in the equation itself. Two differences
//! remain there, which is why a key must be a [`StrictKey`]: a key with a small-order component
//! could have it cancel in the batch's random combination, so such a key (and a weak one) is
//! never batched; and an R with a small-order component (a prime-order point plus a nonzero
//! small-order point) always fails `verify_strict` but passes the batch when the batch's 128-bit
//! coefficient for it happens to kill the torsion (probability ≤ 1/2). Only the holder of the
//! private key can make such a signature (R is hashed into the challenge, so it cannot be
//! grafted onto someone else's signature), and an honest signer never does (its R is a multiple
//! of the prime-order base point), so it authenticates exactly what a strict signature from that
//! key would. Ruling it out would cost a scalar multiplication per signature, more than
//! `verify_strict` itself.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use curve25519_dalek::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha512};

/// ℓ, the order of the prime subgroup, little-endian.
pub(crate) const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// p = 2^255 − 19, little-endian.
pub(crate) const P: [u8; 32] = [
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

/// The checks `verify_strict` makes on a signature's bytes: s < ℓ, R canonical, R not of small
/// order; `Err` says which failed.
pub fn precheck(sig: &Signature) -> Result<(), &'static str> {
    if !is_canonical_scalar(sig.s_bytes()) {
        return Err("s is not reduced (s ≥ ℓ)");
    }
    if !has_canonical_y(sig.r_bytes()) {
        return Err("R is not canonically encoded (y ≥ p)");
    }
    if is_small_order_encoding(sig.r_bytes()) {
        return Err("R is a small-order point");
    }
    Ok(())
}

/// A public key with the checks that decide whether its signatures may be batch-verified done
/// once (one scalar multiplication): it is batched only if it is not weak and has no
/// small-order component. Keep it with the key (a cache) rather than rebuild it per call.
///
/// ```
/// use ed25519_dalek::{Signer, SigningKey};
/// use lit_session_signer::ed25519::{verify_strict_all, StrictKey};
///
/// let signing = SigningKey::from_bytes(&[7; 32]);
/// let key = StrictKey::new(signing.verifying_key());
/// let messages: Vec<&[u8]> = vec![b"node 1", b"node 2", b"node 3"];
/// let mut sigs: Vec<_> = messages.iter().map(|m| signing.sign(m)).collect();
/// assert_eq!(verify_strict_all(&key, &messages, &sigs), Ok(()));
/// sigs[1] = signing.sign(b"something else");
/// assert_eq!(verify_strict_all(&key, &messages, &sigs), Err(vec![1]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrictKey {
    key: VerifyingKey,
    point: EdwardsPoint,
    batchable: bool,
}

impl StrictKey {
    /// Checks `key` once.
    pub fn new(key: VerifyingKey) -> Self {
        let point = key.to_edwards();
        let batchable = !key.is_weak() && point.is_torsion_free();
        Self { key, point, batchable }
    }

    /// The key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Whether every `signatures[i]` is a valid signature of `messages[i]` under `key`, as strict as
/// `verify_strict` (see the module docs for the one residual case): the byte checks of each,
/// then one batch equation for all ([`batch_holds`]); only if that fails (or the key is not
/// batched) each alone with `verify_strict`, to name the failures. `Err` lists the indices that
/// fail, in order; a length mismatch fails every index of the longer list beyond the shorter.
pub fn verify_strict_all(key: &StrictKey, messages: &[&[u8]], signatures: &[Signature]) -> Result<(), Vec<usize>> {
    let n = messages.len().min(signatures.len());
    let unpaired = n..messages.len().max(signatures.len());
    let (messages, signatures) = (&messages[..n], &signatures[..n]);
    let mut failed = Vec::new();
    let batched = n > 1 && key.batchable && batch_holds(key, messages, signatures);
    if !batched {
        let bad = messages.iter().zip(signatures).enumerate().filter_map(|(i, (m, s))| {
            let ok = precheck(s).is_ok() && key.key.verify_strict(m, s).is_ok();
            (!ok).then_some(i)
        });
        failed.extend(bad);
    }
    failed.extend(unpaired);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

/// The batch equation for signatures under one key: with random 128-bit zᵢ and
/// hᵢ = SHA-512(Rᵢ ‖ A ‖ Mᵢ), Σ zᵢ·(Rᵢ + hᵢ·A − sᵢ·B) = 0, computed as one multiscalar
/// multiplication of n + 2 points, [−Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + [Σ zᵢhᵢ]A (ed25519-dalek's
/// `verify_batch` takes 2n + 1, one A per signature). Each signature passes [`precheck`] first.
/// If every signature holds, so does the sum; if one does not, its nonzero term survives the
/// random combination but with probability about 2⁻¹²⁸, except a term of small order (see the
/// module docs). False when a check fails or no randomness could be had (the caller then checks
/// one by one).
fn batch_holds(key: &StrictKey, messages: &[&[u8]], signatures: &[Signature]) -> bool {
    let n = signatures.len();
    let mut random = vec![0u8; 16 * n];
    if OsRng.try_fill_bytes(&mut random).is_err() {
        return false;
    }
    let mut scalars = Vec::with_capacity(n + 2);
    let mut points = Vec::with_capacity(n + 2);
    let (mut b, mut a) = (Scalar::ZERO, Scalar::ZERO);
    for ((message, sig), z) in messages.iter().zip(signatures).zip(random.chunks_exact(16)) {
        if precheck(sig).is_err() {
            return false;
        }
        let Some(r) = CompressedEdwardsY(*sig.r_bytes()).decompress() else { return false };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else { return false };
        let h = Scalar::from_hash(
            Sha512::new().chain_update(sig.r_bytes()).chain_update(key.key.as_bytes()).chain_update(message),
        );
        let mut wide = [0u8; 32];
        wide[..16].copy_from_slice(z);
        let z = Scalar::from_bytes_mod_order(wide);
        b += z * s;
        a += z * h;
        scalars.push(z);
        points.push(r);
    }
    scalars.extend([-b, a]);
    points.extend([ED25519_BASEPOINT_POINT, key.point]);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
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

    fn signed(n: usize) -> (SigningKey, Vec<Vec<u8>>, Vec<Signature>) {
        let sk = SigningKey::from_bytes(&[0x42; 32]);
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("message for node {i}").into_bytes()).collect();
        let sigs = messages.iter().map(|m| sk.sign(m)).collect();
        (sk, messages, sigs)
    }

    #[test]
    fn the_batch_passes_good_signatures_and_the_fallback_names_every_bad_one() {
        for n in [1, 2, 10, 30] {
            let (sk, messages, mut sigs) = signed(n);
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let key = StrictKey::new(sk.verifying_key());
            assert_eq!(verify_strict_all(&key, &refs, &sigs), Ok(()), "n = {n}");
            // One bad signature (a valid one for another message) among good ones is named.
            let last = n - 1;
            sigs[last] = sk.sign(b"not this node's message");
            assert_eq!(verify_strict_all(&key, &refs, &sigs), Err(vec![last]), "n = {n}");
            // Several, including a flipped bit and a signature by another key.
            if n >= 10 {
                let mut bytes = sigs[3].to_bytes();
                bytes[40] ^= 1;
                sigs[3] = Signature::from_bytes(&bytes);
                sigs[7] = SigningKey::from_bytes(&[9; 32]).sign(refs[7]);
                assert_eq!(verify_strict_all(&key, &refs, &sigs), Err(vec![3, 7, last]));
            }
            // A wrong key fails them all.
            let other = StrictKey::new(SigningKey::from_bytes(&[9; 32]).verifying_key());
            let (_, _, good) = signed(n);
            assert_eq!(verify_strict_all(&other, &refs, &good), Err((0..n).collect::<Vec<_>>()));
        }
        let key = StrictKey::new(SigningKey::from_bytes(&[0x42; 32]).verifying_key());
        assert_eq!(verify_strict_all(&key, &[], &[]), Ok(()));
        let (_, messages, sigs) = signed(3);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert_eq!(verify_strict_all(&key, &refs[..2], &sigs), Err(vec![2]), "a signature without a message");
    }

    #[test]
    fn what_verify_strict_refuses_the_batch_refuses() {
        let (sk, messages, sigs) = signed(10);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let key = StrictKey::new(sk.verifying_key());
        // s + ℓ: the same point equation, a non-canonical scalar.
        let mut bytes = sigs[4].to_bytes();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(bytes[32 + i]) + u16::from(L[i]) + carry;
            bytes[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        let mut bad = sigs.clone();
        bad[4] = Signature::from_bytes(&bytes);
        assert!(sk.verifying_key().verify_strict(refs[4], &bad[4]).is_err());
        assert_eq!(verify_strict_all(&key, &refs, &bad), Err(vec![4]));
        // R replaced by a small-order point.
        let mut bytes = sigs[6].to_bytes();
        bytes[..32].copy_from_slice(&SMALL_ORDER_Y[1]);
        let mut bad = sigs.clone();
        bad[6] = Signature::from_bytes(&bytes);
        assert_eq!(verify_strict_all(&key, &refs, &bad), Err(vec![6]));
    }

    #[test]
    fn a_key_with_a_small_order_component_is_checked_one_by_one() {
        // A key plus the order-2 point (y = p - 1, x = 0): decompresses, is not weak, has torsion.
        let sk = SigningKey::from_bytes(&[0x42; 32]);
        let mut enc = SMALL_ORDER_Y[2];
        enc[31] &= 0x7f;
        let torsion = VerifyingKey::from_bytes(&enc).unwrap().to_edwards();
        let odd = (sk.verifying_key().to_edwards() + torsion).compress().to_bytes();
        let key = StrictKey::new(VerifyingKey::from_bytes(&odd).unwrap());
        assert!(!key.batchable);
        assert!(StrictKey::new(sk.verifying_key()).batchable);
        let (_, messages, sigs) = signed(3);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        // The strict path runs: signatures by the torsion-free key fail under the odd key.
        assert_eq!(verify_strict_all(&key, &refs, &sigs), Err(vec![0, 1, 2]));
    }

    #[test]
    fn the_batch_equation_alone_holds_exactly_for_good_sets() {
        let (sk, messages, sigs) = signed(16);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let key = StrictKey::new(sk.verifying_key());
        assert!(batch_holds(&key, &refs, &sigs));
        // Each of these breaks the set; the fallback is not involved.
        let mut swapped = sigs.clone();
        swapped.swap(2, 3);
        let mut flipped = sigs.clone();
        let mut bytes = flipped[5].to_bytes();
        bytes[33] ^= 0x10;
        flipped[5] = Signature::from_bytes(&bytes);
        let mut other_key = sigs.clone();
        other_key[9] = SigningKey::from_bytes(&[9; 32]).sign(refs[9]);
        // Two errors that cancel when both weights are equal: s₀ + d and s₁ − d. Random weights
        // keep them apart.
        let mut cancelling = sigs.clone();
        let d = Scalar::from(12345u64);
        for (i, delta) in [(0, d), (1, -d)] {
            let mut bytes = cancelling[i].to_bytes();
            let s = Scalar::from_canonical_bytes(bytes[32..].try_into().unwrap()).unwrap() + delta;
            bytes[32..].copy_from_slice(s.as_bytes());
            cancelling[i] = Signature::from_bytes(&bytes);
        }
        for (name, bad) in
            [("swapped", swapped), ("flipped", flipped), ("other key", other_key), ("cancelling", cancelling)]
        {
            assert!(!batch_holds(&key, &refs, &bad), "{name}");
            assert!(verify_strict_all(&key, &refs, &bad).is_err(), "{name}");
        }
        // An R that is no point at all fails the batch too.
        let not_a_point = (2u8..)
            .map(|y| {
                let mut r = [0u8; 32];
                r[0] = y;
                r
            })
            .find(|r| CompressedEdwardsY(*r).decompress().is_none())
            .unwrap();
        let mut no_point = sigs;
        let mut bytes = no_point[0].to_bytes();
        bytes[..32].copy_from_slice(&not_a_point);
        no_point[0] = Signature::from_bytes(&bytes);
        assert!(!batch_holds(&key, &refs, &no_point));
    }
}
