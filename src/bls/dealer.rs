//! A trusted dealer for tests and simulators: Shamir-shares a network secret key among `n`
//! signers with threshold `t`, and lets each signer produce its signature share as a Lit node
//! does. Real networks run a DKG instead; nothing here is needed to *use* a Lit network.

use std::fmt;

use blsful::inner_types::{ExpandMsgXmd, Field, G1Projective, G2Projective, Group, Scalar};
use rand_core::{CryptoRng, RngCore, SeedableRng};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::BlsError;
use super::public_key::NetworkPublicKey;
use super::share::{PublicKeyShare, SignatureShare};
use super::SIGNATURE_DST;

/// One signer's secret key share `f(x)` with its identifier `x`. The secret is zeroized on drop
/// and never printed (`Debug` shows the identifier only).
#[derive(Clone)]
pub struct KeyShare {
    identifier: u8,
    secret: Scalar,
    public: G1Projective,
}

impl KeyShare {
    /// The identifier `x` (1..=n); a Lit node's `shareIndex` is `x - 1`.
    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    /// The public key share `f(x)·G1`.
    pub fn public_key_share(&self) -> PublicKeyShare {
        PublicKeyShare::from_parts(self.identifier, self.public)
    }

    /// Signs `message` (for sessions, the 32-byte [`super::session_digest`]) with the
    /// proof-of-possession ciphersuite: `f(x)·H(message)`, `H` = hash-to-G2 with
    /// [`SIGNATURE_DST`]. The share combines with others by [`super::combine_shares`].
    ///
    /// ```
    /// use lit_session_signer::bls::{deal_shares_from_seed, session_digest};
    /// let (_, shares) = deal_shares_from_seed(2, 3, &[5; 32]).unwrap();
    /// let share = shares[2].sign_share(&session_digest("a SIWE message"));
    /// assert_eq!(share.identifier(), 3);
    /// assert_eq!(share.to_hex().len(), 194);
    /// ```
    pub fn sign_share(&self, message: &[u8]) -> SignatureShare {
        let h = G2Projective::hash::<ExpandMsgXmd<sha2::Sha256>>(message, SIGNATURE_DST);
        SignatureShare::from_parts(self.identifier, h * self.secret)
    }
}

impl Zeroize for KeyShare {
    fn zeroize(&mut self) {
        self.secret.zeroize();
    }
}

impl Drop for KeyShare {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for KeyShare {}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare").field("identifier", &self.identifier).field("secret", &"[redacted]").finish()
    }
}

/// Deals a fresh network key: a random polynomial `f` of degree `threshold - 1`, the network
/// public key `f(0)·G1`, and `n` key shares `f(1) … f(n)`. Any `threshold` of their signature
/// shares combine to the network signature; fewer reveal nothing about it.
/// `1 ≤ threshold ≤ n ≤ 255` (identifiers are one byte).
///
/// ```
/// use lit_session_signer::bls::{combine_shares, deal_shares};
/// let (key, shares) = deal_shares(3, 5, &mut rand_core::OsRng).unwrap();
/// let sig_shares: Vec<_> = shares.iter().skip(2).map(|s| s.sign_share(b"m")).collect();
/// assert!(combine_shares(&sig_shares).unwrap().verify(&key, b"m").is_ok());
/// ```
pub fn deal_shares<R: RngCore + CryptoRng>(
    threshold: usize,
    n: usize,
    rng: &mut R,
) -> Result<(NetworkPublicKey, Vec<KeyShare>), BlsError> {
    if threshold == 0 || threshold > n || n > 255 {
        return Err(BlsError::InvalidThreshold { threshold, n });
    }
    loop {
        let mut coefficients: Vec<Scalar> = (0..threshold).map(|_| Scalar::random(&mut *rng)).collect();
        let dealt = evaluate(&coefficients, n);
        coefficients.iter_mut().for_each(Zeroize::zeroize);
        // A zero secret or share happens with probability ~n/2^255; draw again rather than
        // hand out a key that cannot sign.
        if let Some((public, shares)) = dealt {
            return Ok((NetworkPublicKey::from_point(public)?, shares));
        }
    }
}

/// [`deal_shares`] from a 32-byte seed (ChaCha20): the same seed gives the same network key and
/// shares, for reproducible tests. Not for production keys.
///
/// ```
/// use lit_session_signer::bls::deal_shares_from_seed;
/// let (a, _) = deal_shares_from_seed(2, 3, &[1; 32]).unwrap();
/// let (b, _) = deal_shares_from_seed(2, 3, &[1; 32]).unwrap();
/// assert_eq!(a, b);
/// ```
pub fn deal_shares_from_seed(
    threshold: usize,
    n: usize,
    seed: &[u8; 32],
) -> Result<(NetworkPublicKey, Vec<KeyShare>), BlsError> {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(*seed);
    deal_shares(threshold, n, &mut rng)
}

/// `(f(0)·G1, [f(1) … f(n)])`, or `None` if f(0) or any share is zero.
fn evaluate(coefficients: &[Scalar], n: usize) -> Option<(G1Projective, Vec<KeyShare>)> {
    let secret = *coefficients.first()?;
    if bool::from(secret.is_zero()) {
        return None;
    }
    let public = G1Projective::generator() * secret;
    let mut shares = Vec::with_capacity(n);
    for id in 1..=n {
        let identifier = u8::try_from(id).ok()?;
        let x = Scalar::from(id as u64);
        // Horner: f(x) = a0 + x(a1 + x(a2 + …)).
        let value = coefficients.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a);
        if bool::from(value.is_zero()) {
            return None;
        }
        shares.push(KeyShare { identifier, secret: value, public: G1Projective::generator() * value });
    }
    Some((public, shares))
}

#[cfg(test)]
mod tests {
    use super::super::combine_shares;
    use super::*;

    #[test]
    fn every_threshold_subset_signs_for_the_network_key() {
        let (key, shares) = deal_shares_from_seed(3, 5, &[8; 32]).unwrap();
        let sig: Vec<_> = shares.iter().map(|s| s.sign_share(b"msg")).collect();
        for (i, s) in sig.iter().enumerate() {
            assert_eq!(s.verify(&shares[i].public_key_share(), b"msg"), Ok(()));
        }
        let full = combine_shares(&sig).unwrap();
        assert!(full.verify(&key, b"msg").is_ok());
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    assert_eq!(combine_shares(&[sig[c], sig[a], sig[b]]).unwrap(), full);
                }
            }
        }
        // Below the threshold the result is some other point.
        let two = combine_shares(&sig[..2]).unwrap();
        assert_eq!(two.verify(&key, b"msg"), Err(BlsError::InvalidSignature));
    }

    #[test]
    fn thresholds_are_checked_and_secrets_hidden() {
        let mut rng = rand_core::OsRng;
        for (t, n) in [(0, 3), (4, 3), (1, 256)] {
            assert_eq!(deal_shares(t, n, &mut rng).unwrap_err(), BlsError::InvalidThreshold { threshold: t, n });
        }
        let (_, shares) = deal_shares(1, 255, &mut rng).unwrap();
        assert_eq!(shares.last().map(KeyShare::identifier), Some(255));
        let shown = format!("{:?}", shares[0]);
        assert_eq!(shown, "KeyShare { identifier: 1, secret: \"[redacted]\" }");
        // 1-of-n: every share is the secret itself.
        assert_eq!(shares[0].public_key_share().to_bytes()[1..], shares[9].public_key_share().to_bytes()[1..]);
        let mut s = shares[0].clone();
        s.zeroize();
        assert!(bool::from(s.secret.is_zero()));
    }
}
