//! Combining signature shares by Lagrange interpolation at x = 0, and finding bad shares when
//! the result does not verify.

use std::collections::HashSet;

use blsful::inner_types::{
    pairing, ExpandMsgXmd, Field, G1Affine, G1Projective, G2Affine, G2Projective, Group, Gt, Scalar,
};

use super::error::BlsError;
use super::public_key::NetworkPublicKey;
use super::share::SignatureShare;
use super::signature::BlsSignature;
use super::SIGNATURE_DST;

/// At most this many threshold-sized subsets are tried (one pairing each, ≈ 0.5–1 ms) before
/// [`combine_verified`] gives up with [`BlsError::Unattributable`].
pub const MAX_SUBSET_ATTEMPTS: usize = 256;

fn check_identifiers(shares: &[SignatureShare]) -> Result<(), BlsError> {
    if shares.is_empty() {
        return Err(BlsError::NoShares);
    }
    let mut seen = [false; 256];
    for s in shares {
        let id = s.identifier();
        if std::mem::replace(&mut seen[usize::from(id)], true) {
            return Err(BlsError::DuplicateIdentifier(id));
        }
    }
    Ok(())
}

/// Combines shares into the network signature: Lagrange interpolation at x = 0 over the shares'
/// identifiers, Σ λᵢ·σᵢ — the same value blsful's `Signature::from_shares` (the SDK's
/// `blsCombine`) computes, from the already decoded points. Nothing is verified: a bad share, or
/// fewer shares than the threshold, gives a signature that fails to verify. Use
/// [`combine_verified`] to check and to find bad shares.
///
/// ```
/// use lit_session_signer::bls::{combine_shares, deal_shares_from_seed, BlsError};
/// let (key, shares) = deal_shares_from_seed(3, 5, &[9; 32]).unwrap();
/// let sig_shares: Vec<_> = shares.iter().map(|s| s.sign_share(b"m")).collect();
/// let sig = combine_shares(&sig_shares[1..4]).unwrap();
/// assert_eq!(sig, combine_shares(&sig_shares).unwrap());
/// assert!(sig.verify(&key, b"m").is_ok());
/// assert_eq!(combine_shares(&[sig_shares[0], sig_shares[0]]), Err(BlsError::DuplicateIdentifier(1)));
/// ```
pub fn combine_shares(shares: &[SignatureShare]) -> Result<BlsSignature, BlsError> {
    check_identifiers(shares)?;
    let (xs, points) = xs_and_points(shares);
    // Distinct non-zero identifiers: every denominator is invertible.
    let at_zero = lagrange_at(&xs, &points, Scalar::ZERO)
        .ok_or_else(|| BlsError::Combine("identifiers are not distinct".to_string()))?;
    Ok(BlsSignature::from_point(at_zero))
}

fn xs_and_points(shares: &[SignatureShare]) -> (Vec<Scalar>, Vec<G2Projective>) {
    shares.iter().map(|s| (Scalar::from(u64::from(s.identifier())), *s.point())).unzip()
}

/// The outcome of [`combine_verified`]: a signature that verifies, and the shares that were
/// left out because they are not shares of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CombinedSignature {
    /// The network signature; it verified against the key over the message.
    pub signature: BlsSignature,
    /// Identifiers of the shares that are not shares of `signature` (ascending; empty when
    /// every share was good).
    pub rejected: Vec<u8>,
    /// How many shares were good.
    pub good: usize,
    /// The threshold used.
    pub threshold: usize,
}

impl CombinedSignature {
    /// The signature if every share was good, else [`BlsError::BadShares`] naming the others.
    pub fn require_all(self) -> Result<BlsSignature, BlsError> {
        if self.rejected.is_empty() {
            Ok(self.signature)
        } else {
            Err(BlsError::BadShares { identifiers: self.rejected, good: self.good, threshold: self.threshold })
        }
    }
}

/// Combines `shares`, verifies the result against `key` over `message`, and when it fails finds
/// the bad shares.
///
/// All shares are combined first; if that verifies, every share is good (more than `threshold`
/// shares only interpolate to the right value when they all lie on one polynomial). Otherwise
/// `threshold`-sized subsets are tried in order (at most [`MAX_SUBSET_ATTEMPTS`]); the first that
/// verifies fixes the polynomial, and every other share is checked against the value it
/// predicts at that share's identifier (group arithmetic, no pairing). The signature is
/// returned with the rejected identifiers; [`CombinedSignature::require_all`] turns any
/// rejection into [`BlsError::BadShares`].
///
/// Attribution assumes bad shares do not collude so that their errors cancel inside a subset;
/// the returned signature verifies regardless.
///
/// ```
/// use lit_session_signer::bls::{combine_verified, deal_shares_from_seed, BlsError};
/// let (key, shares) = deal_shares_from_seed(2, 3, &[9; 32]).unwrap();
/// let mut sig_shares: Vec<_> = shares.iter().map(|s| s.sign_share(b"m")).collect();
/// sig_shares[1] = shares[1].sign_share(b"another message");
/// let combined = combine_verified(&sig_shares, 2, &key, b"m").unwrap();
/// assert_eq!(combined.rejected, vec![2]);
/// assert!(combined.signature.verify(&key, b"m").is_ok());
/// assert!(matches!(combined.require_all(), Err(BlsError::BadShares { .. })));
/// ```
pub fn combine_verified(
    shares: &[SignatureShare],
    threshold: usize,
    key: &NetworkPublicKey,
    message: &[u8],
) -> Result<CombinedSignature, BlsError> {
    check_identifiers(shares)?;
    if threshold == 0 || threshold > shares.len() {
        if threshold == 0 {
            return Err(BlsError::InvalidThreshold { threshold, n: shares.len() });
        }
        return Err(BlsError::NotEnoughShares { got: shares.len(), threshold });
    }
    let all = combine_shares(shares)?;
    if all.verify(key, message).is_ok() {
        return Ok(CombinedSignature { signature: all, rejected: Vec::new(), good: shares.len(), threshold });
    }
    // Each candidate needs e(G1, σ) == e(pk, H(m)); the right side is fixed, so pay it once.
    let hashed = G2Projective::hash::<ExpandMsgXmd<sha2::Sha256>>(message, SIGNATURE_DST);
    let target: Gt = pairing(&G1Affine::from(key.point()), &G2Affine::from(hashed));
    let generator = G1Affine::from(G1Projective::generator());
    let mut attempts = 1;
    for excluded in ExcludedSets::new(shares.len(), shares.len() - threshold) {
        if attempts >= MAX_SUBSET_ATTEMPTS {
            break;
        }
        attempts += 1;
        let chosen: Vec<SignatureShare> =
            shares.iter().enumerate().filter(|(i, _)| !excluded.contains(i)).map(|(_, s)| *s).collect();
        let candidate = combine_shares(&chosen)?;
        if pairing(&generator, &G2Affine::from(*candidate.point())) != target {
            continue;
        }
        // The authoritative check, exactly as a node verifies.
        candidate.verify(key, message)?;
        let rejected = attribute(shares, &chosen);
        let good = shares.len() - rejected.len();
        return Ok(CombinedSignature { signature: candidate, rejected, good, threshold });
    }
    Err(BlsError::Unattributable { shares: shares.len(), threshold, attempts })
}

/// The sets of `excluded` indices (out of `n`) to leave out, in search order: first disjoint
/// blocks covering every index (so one bad share, or several in one block, is found within
/// ⌈n / excluded⌉ tries), then every other set in lexicographic order.
struct ExcludedSets {
    n: usize,
    blocks: std::vec::IntoIter<Vec<usize>>,
    tried: HashSet<Vec<usize>>,
    next: Option<Vec<usize>>,
}

impl ExcludedSets {
    fn new(n: usize, excluded: usize) -> Self {
        let mut blocks = Vec::new();
        if excluded > 0 && excluded < n {
            for start in (0..n).step_by(excluded) {
                let mut block: Vec<usize> = (start..start + excluded).map(|i| i % n).collect();
                block.sort_unstable();
                block.dedup();
                if block.len() == excluded {
                    blocks.push(block);
                }
            }
        }
        let next = (excluded > 0 && excluded < n).then(|| (0..excluded).collect());
        Self { n, blocks: blocks.into_iter(), tried: HashSet::new(), next }
    }
}

impl Iterator for ExcludedSets {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        for block in self.blocks.by_ref() {
            if self.tried.insert(block.clone()) {
                return Some(block);
            }
        }
        while let Some(current) = self.next.take() {
            let mut following = current.clone();
            if next_subset(&mut following, self.n) {
                self.next = Some(following);
            }
            if self.tried.insert(current.clone()) {
                return Some(current);
            }
        }
        None
    }
}

/// The identifiers (ascending) of `shares` that do not lie on the polynomial through `basis`.
fn attribute(shares: &[SignatureShare], basis: &[SignatureShare]) -> Vec<u8> {
    let (xs, points) = xs_and_points(basis);
    let mut rejected: Vec<u8> = shares
        .iter()
        .filter(|s| !basis.iter().any(|b| b.identifier() == s.identifier()))
        .filter(|s| {
            let x = Scalar::from(u64::from(s.identifier()));
            lagrange_at(&xs, &points, x).map_or(true, |expected| expected != *s.point())
        })
        .map(SignatureShare::identifier)
        .collect();
    rejected.sort_unstable();
    rejected
}

/// The value at `x` of the polynomial through `(xs[i], points[i])`: Σ points[i]·λᵢ(x),
/// λᵢ(x) = Π_{j≠i} (x − xⱼ)/(xᵢ − xⱼ). `None` if two xs coincide.
pub(crate) fn lagrange_at(xs: &[Scalar], points: &[G2Projective], x: Scalar) -> Option<G2Projective> {
    let mut coefficients = Vec::with_capacity(xs.len());
    for (i, xi) in xs.iter().enumerate() {
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                num *= x - xj;
                den *= *xi - xj;
            }
        }
        coefficients.push(num * Option::<Scalar>::from(den.invert())?);
    }
    // Public values, so variable-time blst multiplications; blstrs's constant-time Pippenger is
    // several times slower for a handful of points.
    Some(points.iter().zip(&coefficients).map(|(p, c)| p * c).sum())
}

/// Advances `subset` (sorted indices into 0..n) to the next combination in lexicographic order;
/// false after the last.
fn next_subset(subset: &mut [usize], n: usize) -> bool {
    let k = subset.len();
    let mut i = k;
    while i > 0 {
        i -= 1;
        if subset[i] < n - k + i {
            subset[i] += 1;
            for j in i + 1..k {
                subset[j] = subset[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::dealer::deal_shares_from_seed;
    use super::*;

    #[test]
    fn subsets_enumerate_all_combinations() {
        let mut s = vec![0, 1];
        let mut all = vec![s.clone()];
        while next_subset(&mut s, 4) {
            all.push(s.clone());
        }
        assert_eq!(all, vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
    }

    #[test]
    fn excluded_sets_start_with_covering_blocks_then_cover_everything_once() {
        let sets: Vec<_> = ExcludedSets::new(7, 3).collect();
        assert_eq!(&sets[..3], &[vec![0, 1, 2], vec![3, 4, 5], vec![0, 1, 6]]);
        assert_eq!(sets.len(), 35);
        assert_eq!(sets.iter().collect::<HashSet<_>>().len(), 35);
        assert_eq!(ExcludedSets::new(4, 0).count(), 0);
        assert_eq!(ExcludedSets::new(10, 1).count(), 10);
    }

    #[test]
    fn own_interpolation_at_zero_matches_blsful() {
        let (_, keys) = deal_shares_from_seed(3, 6, &[3; 32]).unwrap();
        let shares: Vec<_> = keys.iter().map(|k| k.sign_share(b"x")).collect();
        let pick = [shares[5], shares[1], shares[3]];
        let xs: Vec<Scalar> = pick.iter().map(|s| Scalar::from(u64::from(s.identifier()))).collect();
        let pts: Vec<G2Projective> = pick.iter().map(|s| *s.point()).collect();
        let at_zero = lagrange_at(&xs, &pts, Scalar::ZERO).unwrap();
        assert_eq!(BlsSignature::from_point(at_zero), combine_shares(&pick).unwrap());
        // blsful's (vsss-rs) combination, what the SDK's blsCombine runs, gives the same point.
        let raw: Vec<_> = pick.iter().map(SignatureShare::as_blsful).collect();
        let theirs = blsful::Signature::<blsful::Bls12381G2Impl>::from_shares(&raw).unwrap();
        assert_eq!(BlsSignature::from_point(*theirs.as_raw_value()), combine_shares(&pick).unwrap());
        // And it predicts the shares it was not given.
        for s in &shares {
            let x = Scalar::from(u64::from(s.identifier()));
            assert_eq!(lagrange_at(&xs, &pts, x), Some(*s.point()));
        }
        assert_eq!(lagrange_at(&[xs[0], xs[0]], &pts[..2], Scalar::ZERO), None);
    }

    #[test]
    fn finds_bad_shares_or_says_it_cannot() {
        let (key, keys) = deal_shares_from_seed(3, 7, &[4; 32]).unwrap();
        let mut shares: Vec<_> = keys.iter().map(|k| k.sign_share(b"m")).collect();
        // Bad shares inside the first subset tried, and after it.
        shares[0] = keys[0].sign_share(b"other");
        shares[5] = SignatureShare::from_parts(6, *shares[4].point());
        let combined = combine_verified(&shares, 3, &key, b"m").unwrap();
        assert_eq!(combined.rejected, vec![1, 6]);
        assert_eq!(combined.good, 5);
        assert!(combined.signature.verify(&key, b"m").is_ok());
        let good: Vec<_> = keys.iter().map(|k| k.sign_share(b"m")).collect();
        assert_eq!(combined.signature, combine_shares(&good).unwrap());

        // 6 bad of 7 with threshold 3: no 3 good shares exist (1 full try + C(7,3) subsets).
        for (i, k) in keys.iter().enumerate().take(5) {
            shares[i] = k.sign_share(b"other");
        }
        assert!(matches!(
            combine_verified(&shares, 3, &key, b"m"),
            Err(BlsError::Unattributable { shares: 7, threshold: 3, attempts: 36 })
        ));
        assert_eq!(
            combine_verified(&shares[..2], 3, &key, b"m"),
            Err(BlsError::NotEnoughShares { got: 2, threshold: 3 })
        );
        assert!(matches!(combine_verified(&shares, 0, &key, b"m"), Err(BlsError::InvalidThreshold { .. })));
        assert_eq!(combine_verified(&[], 1, &key, b"m"), Err(BlsError::NoShares));
    }
}
