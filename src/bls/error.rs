//! Why a BLS key, signature, share or combination was refused.

/// A BLS failure. Parse errors name the input (`what`), so a caller can tell a bad network key
/// from a bad share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// Not hexadecimal (a leading `0x` is allowed).
    #[error("{what}: not hex: {detail}")]
    Hex {
        /// What was being read, e.g. `network public key`.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The right encoding, the wrong size.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// What was being read.
        what: &'static str,
        /// The size the format requires.
        expected: usize,
        /// The size found.
        got: usize,
    },
    /// The bytes are not a compressed point of the prime-order subgroup (off the curve, a bad
    /// flag bit, or a point with a small-order component).
    #[error("{what}: not a compressed point of the BLS12-381 {group} subgroup")]
    InvalidPoint {
        /// What was being read.
        what: &'static str,
        /// `G1` (public keys) or `G2` (signatures).
        group: &'static str,
    },
    /// The identity point, which no honest key or signature is.
    #[error("{what}: the identity point is not allowed")]
    Identity {
        /// What was being read.
        what: &'static str,
    },
    /// Not the JSON object `{"ProofOfPossession":"<hex>"}`.
    #[error("{what}: expected {{\"ProofOfPossession\":\"<hex>\"}}: {detail}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A signature of another blsful scheme (`Basic`, `MessageAugmentation`); Lit uses the
    /// proof-of-possession ciphersuite only.
    #[error("{what}: scheme {scheme:?} is not ProofOfPossession")]
    WrongScheme {
        /// What was being read.
        what: &'static str,
        /// The scheme named in the JSON.
        scheme: String,
    },
    /// A share with identifier 0 (the secret itself sits at x = 0; identifiers start at 1).
    #[error("signature share identifier 0 is not allowed (identifiers start at 1)")]
    ZeroIdentifier,
    /// Two shares with the same identifier: Lagrange interpolation needs distinct x.
    #[error("two signature shares carry identifier {0}")]
    DuplicateIdentifier(u8),
    /// Nothing to combine.
    #[error("no signature shares to combine")]
    NoShares,
    /// Fewer shares than the threshold.
    #[error("{got} signature shares, the threshold is {threshold}")]
    NotEnoughShares {
        /// Shares given.
        got: usize,
        /// Shares needed.
        threshold: usize,
    },
    /// blsful refused the combination.
    #[error("combining signature shares failed: {0}")]
    Combine(String),
    /// The signature does not verify over the message with the key(s).
    #[error("the BLS signature does not verify against the network public key")]
    InvalidSignature,
    /// A share does not verify against its public key share.
    #[error("signature share {identifier} does not verify against its public key share")]
    InvalidShare {
        /// The share's identifier.
        identifier: u8,
    },
    /// Some shares are not shares of the network's signature over this message; the others
    /// combined to a valid signature (see [`super::CombinedSignature::require_all`]).
    #[error("signature shares {identifiers:?} are bad ({good} good shares, threshold {threshold})")]
    BadShares {
        /// Identifiers of the bad shares, ascending.
        identifiers: Vec<u8>,
        /// How many shares were good.
        good: usize,
        /// The threshold used.
        threshold: usize,
    },
    /// The shares do not combine to a valid signature and no `threshold` of them do either
    /// (within the search budget), so the bad ones cannot be told apart: more than
    /// `shares - threshold` are bad, the threshold is wrong, or it is the wrong key or message.
    #[error(
        "the {shares} signature shares do not combine to a signature that verifies, and no {threshold} of them \
         do ({attempts} subsets tried): too many bad shares, a wrong threshold, key or message"
    )]
    Unattributable {
        /// Shares given.
        shares: usize,
        /// The threshold used.
        threshold: usize,
        /// Subsets tried.
        attempts: usize,
    },
    /// A threshold outside `1 ≤ threshold ≤ n ≤ 255`.
    #[error("invalid threshold {threshold} of {n} shares (need 1 ≤ threshold ≤ n ≤ 255)")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// The number of shares asked for.
        n: usize,
    },
    /// An AuthSig that is not `derivedVia: "lit.bls"` with `algo: "LIT_BLS"`.
    #[error("not a LIT_BLS AuthSig: derivedVia {derived_via:?}, algo {algo:?}")]
    NotLitBls {
        /// Its `derivedVia`.
        derived_via: String,
        /// Its `algo`.
        algo: Option<String>,
    },
}
