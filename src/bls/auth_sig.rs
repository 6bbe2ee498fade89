//! The `LIT_BLS` AuthSig the SDK's `signSessionKey` builds from the combined signature:
//! `{sig: "{\"ProofOfPossession\":\"<192 hex>\"}", algo: "LIT_BLS", derivedVia: "lit.bls",
//! signedMessage: <the nodes' SIWE>, address: <EIP-55 PKP address>}`.

use super::digest::session_digest;
use super::error::BlsError;
use super::public_key::NetworkPublicKey;
use super::signature::BlsSignature;
use crate::auth_sig::AuthSig;
use crate::eth::EthAddress;
use crate::protocol::auth_sig::{ALGO_LIT_BLS, DERIVED_VIA_LIT_BLS};

/// Builds the `LIT_BLS` AuthSig. `signed_message` is the SIWE the nodes signed (their
/// rewritten one, not the one sent); `address` the PKP's. Serialises in the SDK's key order
/// (`sig, algo, derivedVia, signedMessage, address`).
///
/// ```
/// use lit_session_signer::bls::{deal_shares_from_seed, combine_shares, lit_bls_auth_sig, session_digest};
/// let (_, shares) = deal_shares_from_seed(1, 1, &[2; 32]).unwrap();
/// let siwe = "litprotocol.com wants you to sign in with your Ethereum account:\n…";
/// let sig = combine_shares(&[shares[0].sign_share(&session_digest(siwe))]).unwrap();
/// let address = "0xd1Af1AAC50aC837C873200D17b78664aFCde597C".parse().unwrap();
/// let auth_sig = lit_bls_auth_sig(&sig, siwe, &address);
/// assert!(serde_json::to_string(&auth_sig).unwrap().starts_with(r#"{"sig":"{\"ProofOfPossession\":\""#));
/// assert_eq!(auth_sig.algo.as_deref(), Some("LIT_BLS"));
/// ```
pub fn lit_bls_auth_sig(signature: &BlsSignature, signed_message: impl Into<String>, address: &EthAddress) -> AuthSig {
    AuthSig {
        sig: signature.to_sig_json(),
        derived_via: DERIVED_VIA_LIT_BLS.to_string(),
        signed_message: signed_message.into(),
        address: address.to_checksum(),
        algo: Some(ALGO_LIT_BLS.to_string()),
    }
}

/// The signature of a `LIT_BLS` AuthSig.
pub fn lit_bls_signature(auth_sig: &AuthSig) -> Result<BlsSignature, BlsError> {
    if !auth_sig.is_lit_bls() {
        return Err(BlsError::NotLitBls { derived_via: auth_sig.derived_via.clone(), algo: auth_sig.algo.clone() });
    }
    BlsSignature::from_sig_json(&auth_sig.sig)
}

/// Verifies a `LIT_BLS` AuthSig's signature against `key` over the digest of its
/// `signedMessage` (the SDK's check; no time or URI checks — the verifier does those).
pub fn verify_lit_bls_auth_sig(auth_sig: &AuthSig, key: &NetworkPublicKey) -> Result<(), BlsError> {
    lit_bls_signature(auth_sig)?.verify(key, &session_digest(&auth_sig.signed_message))
}
