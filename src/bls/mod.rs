//! BLS12-381 network signatures for PKP sessions (`LIT_BLS` AuthSigs).
//!
//! A Lit network holds one BLS key, Shamir-shared among its nodes. For a PKP session each node
//! signs [`session_digest`] of its SIWE with its key share and returns a [`SignatureShare`]
//! (`{"ProofOfPossession":"<identifier ‖ G2 point>"}`); the client combines any threshold of
//! them by Lagrange interpolation ([`combine_shares`], or [`combine_verified`] to check the
//! result and name bad shares) into a [`BlsSignature`] that verifies against the network's
//! [`NetworkPublicKey`], and wraps it in a `LIT_BLS` AuthSig ([`lit_bls_auth_sig`]).
//!
//! Ciphersuite: blsful's `Bls12381G2Impl` proof-of-possession scheme — public keys in G1
//! (48 bytes), signatures in G2 (96 bytes), hash-to-curve DST [`SIGNATURE_DST`].
//!
//! `deal_shares` and `KeyShare::sign_share` (feature `test-util`) play the network's side, for
//! tests and simulators.
//!
//! ```
//! use lit_session_signer::bls::{combine_verified, deal_shares_from_seed, session_digest};
//! let (network_key, key_shares) = deal_shares_from_seed(2, 3, &[42; 32]).unwrap();
//! let digest = session_digest("…the SIWE the nodes signed…");
//! let shares: Vec<_> = key_shares.iter().map(|k| k.sign_share(&digest)).collect();
//! let combined = combine_verified(&shares, 2, &network_key, &digest).unwrap();
//! assert!(combined.rejected.is_empty());
//! assert!(combined.signature.verify(&network_key, &digest).is_ok());
//! ```

mod auth_sig;
mod combine;
#[cfg(feature = "test-util")]
mod dealer;
mod digest;
mod encoding;
mod error;
mod public_key;
mod share;
mod signature;

pub use auth_sig::{lit_bls_auth_sig, lit_bls_signature, verify_lit_bls_auth_sig};
// The AuthSig format's values, defined with the format.
pub use crate::protocol::auth_sig::{is_lit_bls, ALGO_LIT_BLS, DERIVED_VIA_LIT_BLS};
pub use combine::{combine_shares, combine_verified, CombinedSignature, MAX_SUBSET_ATTEMPTS};
#[cfg(feature = "test-util")]
pub use dealer::{deal_shares, deal_shares_from_seed, KeyShare};
pub use digest::{session_digest, session_digest_from_eip191, SESSION_DIGEST_PREFIX};
pub use error::BlsError;
pub use public_key::{NetworkPublicKey, PUBLIC_KEY_BYTES};
pub use share::{PublicKeyShare, SignatureShare, PUBLIC_KEY_SHARE_BYTES, SIGNATURE_SHARE_BYTES};
pub use signature::{BlsSignature, SIGNATURE_BYTES};

/// The hash-to-curve domain separation tag of the proof-of-possession ciphersuite with
/// signatures in G2 (blsful `Bls12381G2Impl::SIG_DST`).
pub const SIGNATURE_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
